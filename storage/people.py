"""Workspaces, people and their roles (admin, PM), and product areas with their focus."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import FeatureRequest, Occurrence, Person, ProductArea, Workspace, utcnow

DEFAULT_AREA = "General"


def ensure_workspace(*, session: Session, team_id: str, enterprise_id: str | None = None) -> Workspace:
    enterprise_id = enterprise_id or ""
    stmt = select(Workspace).where(Workspace.team_id == team_id, Workspace.enterprise_id == enterprise_id)
    workspace = session.exec(stmt).first()
    if workspace:
        return workspace
    try:
        with session.begin_nested():
            workspace = Workspace(team_id=team_id, enterprise_id=enterprise_id)
            session.add(workspace)
            session.flush()
        return workspace
    except IntegrityError:  # another process created it first
        return session.exec(stmt).one()


def get_person(*, session: Session, workspace_id: int, slack_user_id: str) -> Person | None:
    return session.exec(
        select(Person).where(Person.workspace_id == workspace_id, Person.slack_user_id == slack_user_id)
    ).first()


# Built once: every listener asks who is asking (handlers/common.actor), and building a statement costs
# about as much CPU as SQLite running it.
_WORKSPACE_AND_PERSON = (
    select(Workspace, Person)
    .outerjoin(
        Person, (Person.workspace_id == Workspace.id) & (Person.slack_user_id == bindparam("slack_user_id"))
    )
    .where(Workspace.team_id == bindparam("team_id"), Workspace.enterprise_id == bindparam("enterprise_id"))
)


def workspace_and_person(
    *, session: Session, team_id: str, enterprise_id: str | None, slack_user_id: str
) -> tuple[Workspace | None, Person | None]:
    """The workspace of an installation and, in it, the person behind a Slack user id: one query."""
    row = session.exec(
        _WORKSPACE_AND_PERSON,
        params={"team_id": team_id, "enterprise_id": enterprise_id or "", "slack_user_id": slack_user_id},
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


_W, _P = Workspace.__table__.c, Person.__table__.c
_ASKER_IDS = (
    sa_select(_W.id, _P.id.label("person_id"), _P.name, _P.is_admin)
    .select_from(
        Workspace.__table__.outerjoin(
            Person.__table__, (_P.workspace_id == _W.id) & (_P.slack_user_id == bindparam("slack_user_id"))
        )
    )
    .where(_W.team_id == bindparam("team_id"), _W.enterprise_id == bindparam("enterprise_id"))
)


def asker_ids(
    *, session: Session, team_id: str, enterprise_id: str | None, slack_user_id: str
) -> tuple[int | None, int | None, str, bool]:
    """workspace_and_person's ids (with the person's name and admin flag) as plain values: no ORM objects
    built, for the one path where that cost shows (/request, answered within a bare app's 2x)."""
    row = (
        session.connection()
        .execute(
            _ASKER_IDS,
            {"team_id": team_id, "enterprise_id": enterprise_id or "", "slack_user_id": slack_user_id},
        )
        .first()
    )
    if row is None:
        return None, None, "", False
    return row.id, row.person_id, row.name or "", bool(row.is_admin)


def ensure_person(
    *,
    session: Session,
    workspace: Workspace,
    slack_user_id: str,
    name: str = "",
    tz: str = "",
    admin_user_ids: tuple[str, ...] = (),
    home_team_id: str = "",
    external: bool = False,
) -> Person:
    """The person behind a Slack user id; the first person in a workspace becomes its admin, unless admins
    are named in PARTNERBOT_ADMINS. Someone from another organisation (`external`) never becomes an admin
    that way: in a Slack Connect channel the first to use the bot may well be the customer."""
    person = get_person(session=session, workspace_id=workspace.id, slack_user_id=slack_user_id)
    if person:
        changed = False
        if name and person.name != name:
            person.name, changed = name, True
        if tz and person.tz != tz:
            person.tz, changed = tz, True
        if home_team_id and person.home_team_id != home_team_id:
            person.home_team_id, person.external, changed = home_team_id, external, True
        if slack_user_id in admin_user_ids and not person.is_admin:
            person.is_admin, changed = True, True
        if changed:
            session.add(person)
        return person
    if admin_user_ids:
        is_admin = slack_user_id in admin_user_ids
    elif external:
        is_admin = False
    else:
        has_admin = session.exec(
            select(Person.id).where(Person.workspace_id == workspace.id, Person.is_admin == True)  # noqa: E712
        ).first()
        is_admin = has_admin is None
    try:
        with session.begin_nested():
            person = Person(
                workspace_id=workspace.id,
                slack_user_id=slack_user_id,
                name=name,
                tz=tz or "UTC",
                is_admin=is_admin,
                home_team_id=home_team_id[:32],
                external=external,
            )
            session.add(person)
            session.flush()
        return person
    except IntegrityError:
        return get_person(session=session, workspace_id=workspace.id, slack_user_id=slack_user_id)


def set_pm(*, session: Session, person: Person, is_pm: bool) -> list[ProductArea]:
    """Make someone a PM or not. Removing a PM releases the areas they owned (returned), so alerts go to
    the other PMs instead of to someone who can no longer act on them."""
    person.is_pm = is_pm
    session.add(person)
    released = []
    if not is_pm:
        for area in session.exec(select(ProductArea).where(ProductArea.pm_id == person.id)):
            area.pm_id = None
            session.add(area)
            released.append(area)
    return released


def may_manage(*, person: Person, area: ProductArea) -> bool:
    """Who may set an area's focus and rules and decide on its requests: the PM who owns it; any PM while
    nobody owns it; and a PM who is also an admin, for every area."""
    return person.is_pm and (area.pm_id is None or area.pm_id == person.id or person.is_admin)


def list_pms(*, session: Session, workspace_id: int) -> list[Person]:
    return list(
        session.exec(
            select(Person)
            .where(Person.workspace_id == workspace_id, Person.is_pm == True)  # noqa: E712
            .order_by(Person.name)  # noqa: E712
        )
    )


def area_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def get_area(*, session: Session, workspace_id: int, name: str) -> ProductArea | None:
    return session.exec(
        select(ProductArea).where(
            ProductArea.workspace_id == workspace_id,
            ProductArea.name_key == area_key(name),
            ProductArea.retired_at == None,  # noqa: E711
        )
    ).first()


_AREAS = (
    select(ProductArea)
    .where(ProductArea.workspace_id == bindparam("workspace_id"), ProductArea.retired_at.is_(None))
    .order_by(ProductArea.name)
)


def list_areas(*, session: Session, workspace_id: int) -> list[ProductArea]:
    return list(session.exec(_AREAS, params={"workspace_id": workspace_id}))


_A = ProductArea.__table__.c
_FORM_AREAS = (
    sa_select(_A.id, _A.name, _A.focus)
    .where(_A.workspace_id == bindparam("workspace_id"), _A.retired_at.is_(None))
    .order_by(_A.name)
)


def form_areas(*, session: Session, workspace_id: int) -> list[Any]:
    """list_areas as rows of (id, name, focus), all the request form shows of them: no ORM objects."""
    return list(session.connection().execute(_FORM_AREAS, {"workspace_id": workspace_id}).all())


def ensure_area(*, session: Session, workspace_id: int, name: str, pm: Person | None = None) -> ProductArea:
    name = " ".join(name.split())[:80]
    area = get_area(session=session, workspace_id=workspace_id, name=name)
    if area is None:
        try:
            with session.begin_nested():
                area = ProductArea(workspace_id=workspace_id, name=name, name_key=area_key(name))
                session.add(area)
                session.flush()
        except IntegrityError:
            area = get_area(session=session, workspace_id=workspace_id, name=name)
    if pm is not None and area.pm_id is None:
        area.pm_id = pm.id
        session.add(area)
    return area


class AreaChangeError(ValueError):
    """A rename or retirement that would lose or mix something up; the message says what to do instead."""


def rename_area(*, session: Session, area: ProductArea, name: str) -> ProductArea:
    """A new name for the same area (its requests, rules and focus stay); never onto another area's name."""
    name = " ".join(name.split())
    if not name:
        raise AreaChangeError("The new name is empty.")
    if len(name) > 80:
        raise AreaChangeError(f"Please keep an area's name to 80 characters (this one has {len(name)}).")
    other = get_area(session=session, workspace_id=area.workspace_id, name=name)
    if other is not None and other.id != area.id:
        raise AreaChangeError(
            f"There is already an area called “{other.name}”. To fold “{area.name}” into it, retire it "
            f"into that one: `/focus retire {area.name} into {other.name}`."
        )
    area.name, area.name_key = name, area_key(name)
    session.add(area)
    return area


def retire_area(
    *, session: Session, area: ProductArea, into: ProductArea | None = None, now: datetime
) -> int:
    """Retire an area, moving its requests into `into` when given (else they stay, reachable by number).
    Returns how many requests moved."""
    if into is not None and into.id == area.id:
        raise AreaChangeError(f"“{area.name}” can't be retired into itself.")
    moved = 0
    if into is not None:
        for request in session.exec(select(FeatureRequest).where(FeatureRequest.area_id == area.id)):
            request.area_id = into.id
            session.add(request)
            moved += 1
    area.retired_at = now
    # The unique (workspace, name_key) would keep the name taken forever; set it aside with the id.
    area.name_key = f"~{area.id}~{area.name_key}"[:80]
    area.pm_id = None
    session.add(area)
    session.flush()
    return moved


def default_area(*, session: Session, workspace_id: int) -> ProductArea:
    """The area a request goes to when the workspace has only one (or none yet)."""
    areas = list_areas(session=session, workspace_id=workspace_id)
    if areas:
        return areas[0]
    return ensure_area(session=session, workspace_id=workspace_id, name=DEFAULT_AREA)


def set_focus(*, session: Session, area: ProductArea, focus: str, by: Person) -> ProductArea:
    area.focus = focus
    area.focus_set_at = utcnow()
    area.focus_set_by_id = by.id
    if area.pm_id is None:
        area.pm_id = by.id
    session.add(area)
    return area


def list_admins(*, session: Session, workspace_id: int) -> list[Person]:
    return list(
        session.exec(
            select(Person).where(Person.workspace_id == workspace_id, Person.is_admin == True)  # noqa: E712
        )
    )


def by_id(*, session: Session, ids: Iterable[int]) -> dict[int, Person]:
    """The people with these ids, by id, in one query (none for no ids)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {p.id: p for p in session.exec(select(Person).where(Person.id.in_(wanted)))}


def of_occurrences(*, session: Session, occurrences: Iterable[Occurrence]) -> dict[int, Person]:
    """Everyone who logged or raised these occurrences, by id, in one query."""
    occurrences = list(occurrences)
    return by_id(
        session=session, ids=[o.logged_by_id for o in occurrences] + [o.raised_by_id for o in occurrences]
    )
