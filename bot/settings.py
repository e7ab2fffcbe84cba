"""Settings from the environment (and `.env`), checked once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from dotenv import load_dotenv

from storage.db import check_url

SLACK_API_DEFAULT = "https://slack.com/api/"
SQLITE_DEFAULT = "sqlite:///partnerbot.db"

# Where a new user finds each required value; quoted in the error when it is missing.
WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "your Slack app's OAuth & Permissions page (Bot User OAuth Token, xoxb-...)",
    "SLACK_SIGNING_SECRET": "your Slack app's Basic Information page (App Credentials > Signing Secret)",
    "SLACK_APP_TOKEN": "your Slack app's Basic Information page (App-Level Tokens, xapp-..., scope connections:write)",
    "SLACK_CLIENT_ID": "your Slack app's Basic Information page (App Credentials > Client ID)",
    "SLACK_CLIENT_SECRET": "your Slack app's Basic Information page (App Credentials > Client Secret)",
}


TOKEN_PREFIXES = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message names it and where to get it."""


@dataclass(frozen=True)
class Settings:
    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    # The OAuth install (any workspace, "Add to Slack"): used when set and SLACK_BOT_TOKEN is not.
    client_id: str = ""
    client_secret: str = ""
    # Where Slack sends the admin back after "Allow"; by default the request's own host + /slack/oauth_redirect.
    redirect_uri: str = ""
    database_url: str = SQLITE_DEFAULT
    port: int = 3000
    slack_api_url: str = SLACK_API_DEFAULT
    admin_user_ids: tuple[str, ...] = ()
    # Minutes to wait before asking skipped follow-up questions again by DM.
    followup_delay_minutes: float = 60.0
    # Run the outbox delivery worker inside this process (web and socket modes).
    delivery_worker: bool = True
    prefer_embeddings: bool = True
    # Whether people from another organisation (Slack Connect) see this organisation's other requests: the
    # "Same thing?" step, where a request stands, /requests. Off: they log requests and see only their own.
    external_see_requests: bool = False
    # Days after which what people wrote in a logged request is dropped (counts stay); None keeps it.
    retention_days: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        if env is None:
            if dotenv:
                load_dotenv(".env", override=False)
            env = os.environ
        api_url = env.get("SLACK_API_URL", "").strip() or SLACK_API_DEFAULT
        if not api_url.endswith("/"):
            api_url += "/"
        port_text = env.get("PORT", "").strip() or "3000"
        try:
            port = int(port_text)
        except ValueError:
            raise SettingsError(f"PORT must be a number, got {port_text!r}") from None
        delay_text = env.get("FOLLOWUP_DELAY_MINUTES", "").strip() or "60"
        try:
            delay = float(delay_text)
        except ValueError:
            raise SettingsError(f"FOLLOWUP_DELAY_MINUTES must be a number, got {delay_text!r}") from None
        admins = tuple(a.strip() for a in env.get("PARTNERBOT_ADMINS", "").split(",") if a.strip())
        retention_text = env.get("PARTNERBOT_RETENTION_DAYS", "").strip()
        if retention_text and not (retention_text.isdigit() and int(retention_text) > 0):
            raise SettingsError(
                f"PARTNERBOT_RETENTION_DAYS must be a whole number of days (or unset), got {retention_text!r}"
            )
        database_url = env.get("DATABASE_URL", "").strip() or SQLITE_DEFAULT
        try:
            database_url = check_url(database_url)
        except ValueError as e:
            raise SettingsError(f"DATABASE_URL: {e}") from None
        return cls(
            bot_token=env.get("SLACK_BOT_TOKEN", "").strip(),
            signing_secret=env.get("SLACK_SIGNING_SECRET", "").strip(),
            app_token=env.get("SLACK_APP_TOKEN", "").strip(),
            client_id=env.get("SLACK_CLIENT_ID", "").strip(),
            client_secret=env.get("SLACK_CLIENT_SECRET", "").strip(),
            redirect_uri=env.get("SLACK_REDIRECT_URI", "").strip(),
            database_url=database_url,
            port=port,
            slack_api_url=api_url,
            admin_user_ids=admins,
            followup_delay_minutes=delay,
            delivery_worker=env.get("DELIVERY_WORKER", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            prefer_embeddings=env.get("PARTNERBOT_EMBEDDINGS", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            external_see_requests=env.get("PARTNERBOT_EXTERNAL_SEE_REQUESTS", "0").strip().lower()
            in ("1", "true", "yes", "on"),
            retention_days=int(retention_text) if retention_text else None,
        )

    @property
    def has_slack(self) -> bool:
        return bool(self.bot_token) or self.oauth

    @property
    def oauth(self) -> bool:
        """Installed per workspace with OAuth (one token per installation), not one SLACK_BOT_TOKEN."""
        return not self.bot_token and bool(self.client_id)

    def require_bot_token(self, *others: str) -> None:
        """SLACK_BOT_TOKEN, or the OAuth install's client id and secret in its place; and `others`."""
        self.require(
            *(("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET") if self.oauth else ("SLACK_BOT_TOKEN",)), *others
        )

    def require(self, *names: str) -> None:
        """Fail fast, naming every missing variable and where to find it."""
        values = {
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_APP_TOKEN": self.app_token,
            "SLACK_CLIENT_ID": self.client_id,
            "SLACK_CLIENT_SECRET": self.client_secret,
        }
        missing = [n for n in names if not values.get(n)]
        if missing:
            lines = [f"  {n}: from {WHERE_TO_GET[n]}" for n in missing]
            raise SettingsError(
                "Missing required setting(s) — put them in the environment or in .env:\n" + "\n".join(lines)
            )
        # A token pasted into the wrong variable is the most common set-up slip; say so before Slack does.
        wrong = [
            f"  {n} should start with {prefix} (it starts with {values[n][:5]!r}); get it from {WHERE_TO_GET[n]}"
            for n, prefix in TOKEN_PREFIXES.items()
            if n in names and not values[n].startswith(prefix)
        ]
        if wrong:
            raise SettingsError("A Slack token looks wrong:\n" + "\n".join(wrong))
