"""One bot token per installation: the OAuth v2 install ("Add to Slack" for any workspace or Enterprise Grid
org) with slack-sdk's SQLAlchemy installation and state stores on the bot's own database, and which token
talks to Slack for a workspace, wherever the bot calls Slack from (listeners, the outbox, the clock).

With SLACK_BOT_TOKEN set there is one installation and that token is used everywhere, exactly as before.
Otherwise (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET) Bolt's OAuthFlow serves /slack/install and
/slack/oauth_redirect, stores each installation's bot token (rotated before it expires: Slack's token
rotation) and authorizes each payload with its installation's token. The bot's own Slack client carries no
token then: `acting_as` names the token for the work at hand (the payload's, or the outbox row's workspace's)
and RoutedWebClient sends it with each call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy.engine import Engine

from bot.settings import Settings
from storage import lifecycle
from storage.db import session_scope
from storage.models import Workspace

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# What the bot asks for when installed (the manifest's oauth_config.scopes.bot; tests keep them equal).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "mpim:write",
    "users:read",
    "reactions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "files:write",
)
# A token is rotated when it has less than this left (Slack's rotated tokens live 12 hours).
ROTATE_MINUTES_BEFORE = 120
STATE_EXPIRES_S = 600

_token: ContextVar[str] = ContextVar("partnerbot_bot_token", default="")


@contextmanager
def acting_as(token: str) -> Iterator[None]:
    """Calls to Slack made within go out with `token` (when the client has none of its own)."""
    reset = _token.set(token or "")
    try:
        yield
    finally:
        _token.reset(reset)


class RoutedWebClient(WebClient):
    """slack-sdk's client; without a token of its own it sends the one `acting_as` names."""

    def api_call(self, api_method: str, *, headers: dict | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        token = _token.get()
        if token and not self.token:
            headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        return super().api_call(api_method, headers=headers, **kwargs)


class InstallationStore(SQLAlchemyInstallationStore):
    """slack-sdk's store; saving an installation (an install or a reinstall) also resumes the outbox of a
    workspace the app had been uninstalled from."""

    def save(self, installation: Installation) -> None:
        super().save(installation)
        team = "" if installation.is_enterprise_install else installation.team_id or ""
        enterprise = installation.enterprise_id or ""
        with session_scope(self.engine) as session:
            workspace = lifecycle.parked_workspace(session=session, team_id=team, enterprise_id=enterprise)
            if workspace is not None:
                resumed = lifecycle.resume(session=session, workspace=workspace)
                log.info("reinstalled in %s: %s outbox message(s) resumed", team or enterprise, resumed)


class Tokens:
    """The bot token for a workspace: SLACK_BOT_TOKEN, or its installation's (rotated when due)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.single = settings.bot_token
        self.engine = engine
        self.store: InstallationStore | None = None
        self.rotator: TokenRotator | None = None
        if settings.oauth:
            self.store = InstallationStore(client_id=settings.client_id, engine=engine)
            self.rotator = TokenRotator(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                client=WebClient(base_url=settings.slack_api_url),
            )

    def for_installation(self, team_id: str, enterprise_id: str = "") -> str:
        if self.single or self.store is None:
            return self.single
        bot = self.store.find_bot(
            enterprise_id=enterprise_id or None, team_id=team_id or None, is_enterprise_install=not team_id
        )
        if bot is None:
            return ""
        return self._fresh(bot).bot_token or ""

    def for_workspace(self, workspace_id: int | None) -> str:
        if self.single or workspace_id is None:
            return self.single
        with session_scope(self.engine) as session:
            workspace = session.get(Workspace, workspace_id)
            if workspace is None:
                return ""
            team, enterprise = workspace.team_id, workspace.enterprise_id
        return self.for_installation(team, enterprise)

    def _fresh(self, bot: Bot) -> Bot:
        if self.rotator is None or not bot.bot_refresh_token or self.store is None:
            return bot
        refreshed = self.rotator.perform_bot_token_rotation(
            bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE
        )
        if refreshed is None:
            return bot
        self.store.save_bot(refreshed)
        return refreshed


def oauth_settings(settings: Settings, tokens: Tokens) -> OAuthSettings:
    assert tokens.store is not None
    found = OAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=settings.redirect_uri or None,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=tokens.store,
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE,
        state_store=SQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRES_S, engine=tokens.engine),
    )
    # Bolt's own rotator would ask slack.com; this one asks the Slack the settings name (a fake in tests).
    authorize = getattr(found, "authorize", None)
    if authorize is not None and getattr(authorize, "token_rotator", None) is not None:
        authorize.token_rotator = tokens.rotator
    return found
