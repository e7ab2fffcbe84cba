"""What every listener needs: the app's dependencies and who is asking, in which workspace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.settings import Settings
from handlers.installation import USER_TEAM_KEY, Installation, installation
from handlers.text import escape
from storage import people
from storage.models import Person, ProductArea, Workspace

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """Shared by all listeners through Bolt's context (context["deps"])."""

    settings: Settings
    engine: Engine
    client: WebClient
    worker: Any = None  # bot.delivery.DeliveryWorker when deliveries run in this process
    matcher: Any = None  # handlers.matching.MatchIndex
    # bot.background.Background: where Bolt runs lazy listeners (the work after Slack has its answer)
    background: Any = None
    tokens: Any = None  # bot.oauth.Tokens: the bot token of each workspace (one, or one per installation)
    extras: dict[str, Any] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict[int, Any]) -> Deps:
        # Bolt deep-copies the context for lazy listeners; the engine, client and worker are shared by
        # design (and hold locks and sockets that cannot be copied).
        return self

    def kick(self) -> None:
        """Wake the delivery worker: something was just queued."""
        if self.worker is not None:
            self.worker.kick()


def deps_of(context: Any) -> Deps:
    return context["deps"]


def slack_user(client: WebClient, user_id: str) -> dict[str, Any]:
    """users.info's user ({} when Slack does not know them or won't say, as for some Slack Connect users)."""
    try:
        return client.users_info(user=user_id).get("user") or {}
    except SlackApiError as e:
        log.info("users.info %s: %s", user_id, e.response.get("error"))
        return {}


def slack_profile(client: WebClient, user_id: str) -> tuple[str, str]:
    """(name, tz) from users.info; blanks when Slack does not know the user."""
    return _name_tz(slack_user(client, user_id))


def _name_tz(user: dict[str, Any]) -> tuple[str, str]:
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or ""
    )
    return name, user.get("tz") or ""


def fetch_message(client: WebClient, channel: str, ts: str) -> dict[str, Any] | None:
    """One message by channel and ts (None when it is gone or the bot may not read it)."""
    try:
        history = client.conversations_history(channel=channel, latest=ts, inclusive=True, limit=1)
    except SlackApiError:
        return None
    messages = [m for m in history.get("messages") or [] if m.get("ts") == ts]
    return messages[0] if messages else None


def mention_names(client: WebClient, most: int = 5) -> Callable[[str], str]:
    """Names for bare `<@U1>` mentions in a message, looked up once each and at most `most` times (a form
    has to open within Slack's 3 seconds); the id is kept beyond that."""
    known: dict[str, str] = {}

    def name(user_id: str) -> str:
        if user_id not in known and len(known) < most:
            known[user_id] = slack_profile(client, user_id)[0]
        return known.get(user_id, "")

    return name


def workspace_of(session: Session, context: Any) -> Workspace:
    """The workspace of the installation that received the payload (handlers/installation.py), never of
    the team the payload happens to name: both sides of a Slack Connect channel land in the same one."""
    install = installation(context)
    return people.ensure_workspace(
        session=session, team_id=install.team_id, enterprise_id=install.enterprise_id
    )


def person_for(
    session: Session, deps: Deps, workspace: Workspace, user_id: str, team_hint: str = ""
) -> Person:
    """The person for a Slack user, looking up name, time zone and own team the first time we meet them.
    `team_hint` is the user's team as a payload gave it, for when users.info does not say."""
    person = people.get_person(session=session, workspace_id=workspace.id, slack_user_id=user_id)
    return _person_for(session, deps, workspace, user_id, team_hint, person)


def _person_for(
    session: Session, deps: Deps, workspace: Workspace, user_id: str, team_hint: str, person: Person | None
) -> Person:
    """person_for, given what the database holds for the user (`person`, or None)."""
    if person is not None and person.name:
        if user_id in deps.settings.admin_user_ids and not person.is_admin:
            person.is_admin = True
            session.add(person)
        return person
    user = slack_user(deps.client, user_id)
    name, tz = _name_tz(user)
    team = str(user.get("team_id") or team_hint or "")
    grid = user.get("enterprise_user") or {}
    enterprise = str(grid.get("enterprise_id") or "") if isinstance(grid, dict) else ""
    install = Installation(workspace.team_id, workspace.enterprise_id)
    return people.ensure_person(
        session=session,
        workspace=workspace,
        slack_user_id=user_id,
        name=name,
        tz=tz,
        admin_user_ids=deps.settings.admin_user_ids,
        home_team_id=team,
        external=not install.includes(team, enterprise),
    )


def actor(session: Session, deps: Deps, context: Any) -> tuple[Workspace, Person]:
    """Who is asking, in which workspace (the payload's word on their own team is used when Slack's
    users.info won't say)."""
    install = installation(context)
    user_id = context.get("user_id") or ""
    hint = context.get(USER_TEAM_KEY) or ""
    # Every listener asks this first: the workspace and the person in one query.
    workspace, person = people.workspace_and_person(
        session=session, team_id=install.team_id, enterprise_id=install.enterprise_id, slack_user_id=user_id
    )
    if workspace is None:
        workspace = workspace_of(session, context)
        return workspace, person_for(session, deps, workspace, user_id, hint)
    return workspace, _person_for(session, deps, workspace, user_id, hint, person)


def asker_ids(session: Session, deps: Deps, context: Any) -> tuple[int, int]:
    """actor()'s workspace and person ids. A person already known, with nothing to update, costs one light
    query (no ORM objects: the /request path, where it shows); anyone else goes through actor()."""
    install = installation(context)
    user_id = context.get("user_id") or ""
    workspace_id, person_id, name, is_admin = people.asker_ids(
        session=session, team_id=install.team_id, enterprise_id=install.enterprise_id, slack_user_id=user_id
    )
    if workspace_id and person_id and name and (is_admin or user_id not in deps.settings.admin_user_ids):
        return workspace_id, person_id
    workspace, person = actor(session, deps, context)
    return workspace.id, person.id


def sees_other_requests(deps: Deps, person: Person) -> bool:
    """People of the installing organisation see its requests; someone from another organisation (a Slack
    Connect channel's other side) only when the installing organisation allows it."""
    return not person.external or deps.settings.external_see_requests


EXTERNAL_SEES_OWN = (
    "You're here from another organisation, so you see the requests you logged (`/requests mine`), "
    "not everyone's. Anyone can log one: `/request <what the customer needs>`."
)


def area_refusal(session: Session, me: Person, area: ProductArea, what: str) -> str | None:
    """Why `me` may not `what` in this area (None when they may). Says who to ask instead."""
    if people.may_manage(person=me, area=area):
        return None
    if not me.is_pm:
        return f"Only PMs can {what}. Ask an admin to make you one with `/partnerbot pm add {mention(me)}`."
    owner = session.get(Person, area.pm_id) if area.pm_id else None
    return (
        f"*{escape(area.name)}* belongs to {mention(owner) if owner else 'another PM'}, so only they (or an admin "
        f"who is a PM) can {what} there. An admin can hand it over with "
        f"`/partnerbot pm add {mention(me)} {escape(area.name)}`."
    )


def mention(person_or_id: Person | str) -> str:
    uid = person_or_id if isinstance(person_or_id, str) else person_or_id.slack_user_id
    return f"<@{uid}>"
