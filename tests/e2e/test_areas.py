"""Areas renamed and retired by their PM or an admin (issue 12, item 8), over signed HTTP to the real web
process, on SQLite and PostgreSQL: a typo in /focus is said to be new and can be undone, requests kept or moved."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.fake_slack import TEAM_ID
from storage import people
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, ProductArea


def seed(engine, area_name: str, title: str, users: list[str]) -> int:
    with session_scope(engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        area = people.get_area(session=s, workspace_id=ws.id, name=area_name)
        req = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=title)
        for user in users:
            person = people.ensure_person(session=s, workspace=ws, slack_user_id=user, name=user[1:].title())
            store.record_occurrence(
                session=s, request=req, logged_by_id=person.id, text=title, customer="Acme"
            )
        s.flush()
        return req.id


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_a_typo_area_is_flagged_then_retired_into_the_right_one_and_areas_can_be_renamed(server):
    d = server.driver
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    d.command("UPM", "/focus", "Reporting: self-serve dashboards")
    typo = d.command("UPM", "/focus", "Reportng: self-serve dashboards").text
    assert "*Reportng* is a new area. Did you mean *Reporting*?" in typo, typo
    assert "`/focus retire Reportng into Reporting`" in typo
    stray = seed(server.engine, "Reportng", "CSV export", ["UANA", "UBO"])
    kept = seed(server.engine, "Reporting", "SSO", ["UANA"])

    refused = d.command("UANA", "/focus", "retire Reportng").text
    assert "Only PMs can rename or retire it" in refused and "You typed: `retire Reportng`" in refused
    onto = d.command("UPM", "/focus", "rename Reportng: reporting").text
    assert "There is already an area called “Reporting”" in onto, onto

    moved = d.command("UPM", "/focus", "retire Reportng into Reporting").text
    assert "Retired *Reportng*: 1 request moved into *Reporting*" in moved, moved
    with Session(server.engine) as s:
        areas = {a.name: a for a in s.exec(select(ProductArea))}
        assert areas["Reportng"].retired_at is not None and areas["Reportng"].pm_id is None
        assert s.get(FeatureRequest, stray).area_id == areas["Reporting"].id
        assert s.get(FeatureRequest, kept).area_id == areas["Reporting"].id
    listing = d.command("UANA", "/focus").text
    assert "Reporting" in listing and "Reportng" not in listing
    assert "2 requests" in d.command("UPM", "/requests", "Reporting").text
    assert "no area called “Reportng”" in d.command("UANA", "/requests", "Reportng").text

    # The retired name is free again; an area retired without a target keeps its requests, reachable by number.
    again = d.command("UPM", "/focus", "Reportng: a second try").text
    assert "Focus for *Reportng*" in again
    lone = seed(server.engine, "Reportng", "PDF export", ["UBO"])
    assert "Retired *Reportng*. It no longer shows" in d.command("UPM", "/focus", "retire Reportng").text
    detail = d.command("UBO", "/requests", f"#{lone}").text
    assert "PDF export" in detail

    # Renaming keeps everything; an admin who is not a PM may rename too.
    renamed = d.command("UADMIN", "/focus", "rename Reporting: Analytics").text
    assert "*Reporting* is now called *Analytics*" in renamed, renamed
    assert "2 requests" in d.command("UPM", "/requests", "Analytics").text
    with Session(server.engine) as s:
        analytics = s.exec(select(ProductArea).where(ProductArea.name == "Analytics")).one()
        assert analytics.focus == "self-serve dashboards" and analytics.name_key == "analytics"
