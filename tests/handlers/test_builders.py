"""Block Kit builders are pure: tested without Slack or a database."""

from __future__ import annotations

import json

from bot.payloads import state_values
from handlers import blocks
from handlers.text import escape, quote
from handlers.views.request_modal_builder import read_answers, request_modal
from storage.models import Occurrence, ProductArea


def _areas():
    return [
        ProductArea(id=1, workspace_id=1, name="Reporting", name_key="reporting", focus="Dashboards <!here>"),
        ProductArea(id=2, workspace_id=1, name="Integrations", name_key="integrations", focus=""),
    ]


def test_modal_has_every_follow_up_question_and_the_focus():
    view = request_modal(text="CSV export", draft_id=7, areas=_areas(), default_area_id=1)
    ids = [b.get("block_id") for b in view["blocks"]]
    for block_id in (
        "request",
        "area",
        "customer",
        "amount",
        "frequency",
        "root_problem",
        "impacts",
        "focus_tie",
    ):
        assert block_id in ids
    text = json.dumps(view)
    assert "Dashboards &lt;!here&gt;" in text and "<!here>" not in text
    assert json.loads(view["private_metadata"]) == {"draft": 7}


def test_single_area_form_has_no_area_picker():
    assert "area" not in [
        b.get("block_id") for b in request_modal(text="", draft_id=1, areas=_areas()[:1])["blocks"]
    ]


def test_answers_round_trip_through_slack_state():
    view = request_modal(text="CSV export", draft_id=7, areas=_areas(), default_area_id=1)
    view["state"] = {
        "values": state_values(
            view,
            {
                "customer": " Acme  Corp ",
                "frequency": "weekly",
                "impacts": ["lost_deal", "support_load"],
                "area": "2",
            },
        )
    }
    answers = read_answers(view)
    assert answers.text == "CSV export" and answers.customer == "Acme Corp" and answers.area_id == 2
    assert answers.frequency == "weekly" and answers.impacts == ["lost_deal", "support_load"]


def test_escape_and_quote_never_let_mentions_through():
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    long = "x" * 5000
    quoted = quote(long, 100)
    assert quoted.startswith("x" * 100) and "5,000 characters, all kept" in quoted


def test_followup_lists_only_missing_questions():
    occ = Occurrence(
        id=3, workspace_id=1, request_id=1, logged_by_id=1, text="t", customer="Acme", frequency="daily"
    )
    request = type("R", (), {"title": "CSV <b>", "id": 1})()
    built = blocks.followup_blocks(request=request, occurrence=occ, missing=["impacts", "root_problem"])
    text = json.dumps(built)
    assert "How does it impact customers" in text and "root problem" in text
    assert "How often" not in text and "CSV &lt;b&gt;" in text


def test_not_yet_notification_text_never_pings():
    from datetime import UTC, datetime

    from handlers.thanks import not_yet_blocks
    from storage.models import FeatureRequest, Person

    text, built = not_yet_blocks(
        request=FeatureRequest(id=1, workspace_id=1, area_id=1, title="Gantt <!here> view"),
        area=_areas()[0],
        person=Person(id=1, workspace_id=1, slack_user_id="UREP", tz=""),
        occurrences=[Occurrence(customer="Acme", created_at=datetime(2026, 11, 2, tzinfo=UTC))],
        pm=None,
        reason="<!channel> the team is on onboarding",
        total_count=3,
        total_customers=2,
    )
    everything = text + json.dumps(built)
    assert "<!channel>" not in everything and "<!here>" not in everything
    assert "&lt;!channel&gt; the team is on onboarding" in text  # the reason is kept, shown as typed


def test_follow_up_dm_shows_the_focus_and_keeps_other_impacts_one_click_away():
    from storage.models import FeatureRequest

    request = FeatureRequest(id=3, workspace_id=1, area_id=1, title="CSV export")
    first = blocks.followup_blocks(
        request=request,
        occurrence=Occurrence(id=9, impacts=""),
        missing=["impacts", "focus_tie"],
        focus="Month-end close <fast>",
    )
    text = json.dumps(first)
    assert "The current focus: _Month-end close &lt;fast&gt;_" in text
    after_one_click = blocks.followup_blocks(
        request=request,
        occurrence=Occurrence(id=9, impacts="lost_deal"),
        missing=["focus_tie"],
        show_answers=True,
    )
    labels = [e["text"]["text"] for b in after_one_click if b["type"] == "actions" for e in b["elements"]]
    assert "Churn risk" in labels and "Lost deal" not in labels
