"""Which installation of the app a Slack payload was delivered to, and which organisation its user is from.

Bolt's `context.team_id` is the team a payload *names*, and that is not always the installation: in a Slack
Connect channel a shortcut names the other organisation's team and the form it opens comes back naming the
installed one (`view.app_installed_team_id`); an org-wide install sends `team: null` with the user's own
workspace in `user.team_id`. Every listener takes its workspace from `installation_of` instead, so one
install is one workspace whatever the payload kind or whoever clicked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Where create_app's middleware leaves the payload's installation in Bolt's context.
CONTEXT_KEY = "partnerbot_installation"
# ...and the acting user's own team as the payload tells it.
USER_TEAM_KEY = "partnerbot_user_team"


@dataclass(frozen=True)
class Installation:
    """One install of the app: a workspace (team_id, and its enterprise_id on Enterprise Grid), or a whole
    Grid organisation (org-wide install: team_id "" and the enterprise_id)."""

    team_id: str
    enterprise_id: str = ""

    @property
    def org_wide(self) -> bool:
        return not self.team_id and bool(self.enterprise_id)

    @property
    def key(self) -> str:
        """Scopes handled-payload keys: both sides of a Slack Connect channel map to the same one."""
        return self.team_id or self.enterprise_id

    def includes(self, team_id: str, enterprise_id: str = "") -> bool:
        """Whether a user of `team_id` (in `enterprise_id`, if on Grid) belongs to this installation's
        organisation. A team we know nothing about counts as ours: only a named other team is external."""
        if not team_id and not enterprise_id:
            return True
        if self.enterprise_id and enterprise_id == self.enterprise_id:
            return True
        return bool(team_id) and team_id == self.team_id


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _truthy(value: Any) -> bool:
    return value is True or value == "true"


def from_payload(body: dict[str, Any]) -> Installation | None:
    """The installation a payload says it was delivered to, or None when it does not say.

    Events carry it in `authorizations` (one entry: the installation the event is for), forms in
    `view.app_installed_team_id`, org-wide installs in `is_enterprise_install` with `enterprise.id`.
    Commands, shortcuts and clicks outside a form only name the clicking user's team, which in a Slack
    Connect channel is the other organisation's: they say nothing about the installation."""
    auths = body.get("authorizations")
    if isinstance(auths, list) and auths and isinstance(auths[0], dict):
        auth = auths[0]
        enterprise = _text(auth.get("enterprise_id"))
        if _truthy(auth.get("is_enterprise_install")) and enterprise:
            return Installation("", enterprise)
        if _text(auth.get("team_id")):
            return Installation(auth["team_id"], enterprise)
    enterprise_field = body.get("enterprise")
    enterprise = (
        _text(enterprise_field.get("id")) if isinstance(enterprise_field, dict) else _text(enterprise_field)
    ) or _text(body.get("enterprise_id"))
    if _truthy(body.get("is_enterprise_install")) and enterprise:
        return Installation("", enterprise)
    view = body.get("view")
    if isinstance(view, dict) and _text(view.get("app_installed_team_id")):
        # The form's enterprise is the opener's, which may be the other side's: only the team is the install's.
        return Installation(view["app_installed_team_id"])
    return None


def from_token(authorized: Any) -> Installation | None:
    """The installation the bot token belongs to (Bolt's `authorize_result`, from auth.test). A single-token
    app has exactly one, and every payload Slack sends it was delivered to it."""
    if not authorized:
        return None
    team, enterprise = _text(authorized.get("team_id")), _text(authorized.get("enterprise_id"))
    if enterprise and team in ("", enterprise):  # an org-level token: auth.test names no workspace
        return Installation("", enterprise)
    return Installation(team, enterprise) if team else None


def installation_of(
    body: dict[str, Any], authorized: Any, named_team: str = "", named_enterprise: str = ""
) -> Installation:
    """The token's installation; else what the payload says about it; else (nothing better is known) the
    team the payload names, as Bolt would."""
    token = from_token(authorized)
    said = from_payload(body)
    if token is not None:
        if said is not None and said.key != token.key:
            # Never seen from Slack for a single-token app: another app's payload signed with our secret?
            log.warning("a payload for installation %s reached the app installed in %s", said.key, token.key)
        return token
    if said is not None:
        return said
    return Installation(named_team, named_enterprise)


def installation(context: Any) -> Installation:
    """The installation create_app's middleware resolved for this payload (Bolt's named team when a
    listener is driven without it)."""
    found = context.get(CONTEXT_KEY)
    if isinstance(found, Installation):
        return found
    return Installation(_text(context.get("team_id")), _text(context.get("enterprise_id")))


def user_team(body: dict[str, Any]) -> str:
    """The acting user's own team as the payload tells it (their organisation's workspace): `user.team_id`
    in interactive payloads, `event.user_team` in shared-channel events, the command's `team_id`."""
    user = body.get("user")
    if isinstance(user, dict) and _text(user.get("team_id")):
        return user["team_id"]
    event = body.get("event")
    if isinstance(event, dict):
        return _text(event.get("user_team")) or _text(event.get("team"))
    if body.get("command"):
        return _text(body.get("team_id"))
    return ""
