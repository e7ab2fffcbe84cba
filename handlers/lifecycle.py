"""The app's and its people's lifecycle in a workspace: uninstalled or tokens revoked (every send parked
at once), back again (any verified payload from the workspace resumes them), and a person's Slack profile
changing (name, time zone, deactivation; a deactivated PM's areas are flagged to the admins)."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, BoltContext

from handlers.common import deps_of, mention, workspace_of
from handlers.installation import Installation
from handlers.text import escape
from handlers.thanks import queue_dm
from storage import lifecycle, people
from storage.db import session_scope

log = logging.getLogger(__name__)

# The events that say the app is gone: they must never count as the app being back.
GONE_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})


def register(app: Any) -> None:
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
    app.event("user_change")(user_change)


def app_uninstalled(ack: Ack, context: BoltContext) -> None:
    ack()
    _park(context, "app_uninstalled")


def tokens_revoked(ack: Ack, event: dict[str, Any], context: BoltContext) -> None:
    ack()
    # Only the bot's token sends anything; a user token revoked alone changes nothing here.
    if (event.get("tokens") or {}).get("bot"):
        _park(context, "tokens_revoked")


def _park(context: BoltContext, reason: str) -> None:
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace = workspace_of(session, context)
        parked = lifecycle.park(session=session, workspace=workspace, reason=reason)
    deps.extras.pop(PARKED_CACHE, None)
    store = getattr(deps.tokens, "store", None)
    if store is not None:  # the OAuth install: the installation's tokens are no use any more
        enterprise, team = workspace.enterprise_id or None, workspace.team_id or None
        if reason == "app_uninstalled":
            store.delete_all(enterprise_id=enterprise, team_id=team)
        else:
            store.delete_bot(enterprise_id=enterprise, team_id=team)
    log.warning(
        "%s: parked %s outbox message(s) of workspace %s until the app is back",
        reason,
        parked,
        workspace.team_id or workspace.enterprise_id,
        extra={"team_id": workspace.team_id or workspace.enterprise_id, "outcome": "parked"},
    )


def resume_if_parked(deps: Any, install: Installation, body: dict[str, Any]) -> None:
    """A verified payload from a parked workspace means the app is installed there again. The parked
    workspaces are read at most every PARKED_REFRESH_S per process (every payload passes here), so a
    workspace parked by another process resumes within that time. Never fails the payload: a database
    hiccup only delays the resumption to a later one."""
    event = body.get("event")
    if isinstance(event, dict) and event.get("type") in GONE_EVENTS:
        return
    try:
        if (install.team_id, install.enterprise_id) not in _parked_keys(deps):
            return
        with session_scope(deps.engine) as session:
            workspace = lifecycle.parked_workspace(
                session=session, team_id=install.team_id, enterprise_id=install.enterprise_id
            )
            if workspace is None:
                return
            resumed = lifecycle.resume(session=session, workspace=workspace)
        deps.extras.pop(PARKED_CACHE, None)
        log.info("the app is back in %s: %s outbox message(s) resumed", install.key, resumed)
        deps.kick()
    except Exception:
        log.warning("could not check whether %s was parked", install.key, exc_info=True)


PARKED_CACHE = "parked_workspaces"
PARKED_REFRESH_S = 30.0


def _parked_keys(deps: Any) -> set[tuple[str, str]]:
    cached = deps.extras.get(PARKED_CACHE)
    if cached is not None and time.monotonic() < cached[0]:
        return cached[1]
    with session_scope(deps.engine) as session:
        keys = lifecycle.parked_keys(session=session)
    deps.extras[PARKED_CACHE] = (time.monotonic() + PARKED_REFRESH_S, keys)
    return keys


def user_change(ack: Ack, event: dict[str, Any], context: BoltContext) -> None:
    """Only people the bot already knows are refreshed (a big workspace sends these for everyone)."""
    ack()
    user = event.get("user") or {}
    user_id = str(user.get("id") or "")
    if not user_id:
        return
    deps = deps_of(context)
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
    )
    with session_scope(deps.engine) as session:
        workspace = workspace_of(session, context)
        person = people.get_person(session=session, workspace_id=workspace.id, slack_user_id=user_id)
        if person is None:
            return
        orphaned = lifecycle.refresh_person(
            session=session,
            person=person,
            name=str(name or ""),
            tz=str(user.get("tz") or ""),
            deleted=bool(user.get("deleted")),
        )
        if not orphaned:
            return
        names = ", ".join(f"*{escape(a.name)}*" for a in orphaned)
        admins = [
            a for a in people.list_admins(session=session, workspace_id=workspace.id) if not a.deactivated
        ]
        for admin in admins:
            queue_dm(
                session=session,
                to=admin,
                key=f"pm-deactivated:{person.id}:{admin.id}:{event.get('event_ts') or context.get('event_id') or ''}",
                text=f"{mention(person)} was deactivated in Slack and owned {names}. Hand "
                f"{'it' if len(orphaned) == 1 else 'them'} over with "
                f"`/partnerbot pm add @user {escape(orphaned[0].name)}`; until then their digests stop.",
                workspace_id=workspace.id,
                kind="admin_note",
            )
    deps.kick()
