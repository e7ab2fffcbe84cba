"""handlers/installation.py on every real-shaped fixture: what each payload says about the installation it
was delivered to, and the installation every listener uses (the bot token's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers.installation import Installation, from_payload, from_token, installation_of, user_team

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"


def body(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())["body"]


@pytest.mark.parametrize(
    ("name", "said", "team"),
    [
        # Nothing in a shortcut from the other side of a Slack Connect channel names the installation.
        ("connect_message_shortcut", None, "T0OTHERSIDE"),
        ("connect_view_submission", Installation("T0INSTALLED"), "T0OTHERSIDE"),
        ("connect_reaction_added", Installation("T0INSTALLED"), ""),
        ("ephemeral_block_actions", None, "T0OTHERSIDE"),
        ("orgwide_slash_command", Installation("", "E0ORG"), "T0ORGA"),
        ("orgwide_view_submission", Installation("", "E0ORG"), "T0ORGA"),
        ("orgwide_reaction_added", Installation("", "E0ORG"), ""),
        ("classic_message_shortcut", Installation("", "E0ORG"), "T0ORGA"),
        ("grid_slash_command", None, "T0GRID"),
        ("view_submission_response_urls", Installation("T0INSTALLED"), "T0INSTALLED"),
        ("unhandled_event", Installation("T0INSTALLED"), "T0INSTALLED"),
    ],
)
def test_what_each_payload_says_about_its_installation_and_its_user(name, said, team):
    assert from_payload(body(name)) == said
    assert user_team(body(name)) == team


def test_the_token_names_the_installation_for_every_payload_kind():
    connect = {"team_id": "T0INSTALLED", "enterprise_id": None}
    for name in ("connect_message_shortcut", "connect_view_submission", "connect_reaction_added"):
        assert installation_of(body(name), connect, "T0OTHERSIDE", "E0OTHERSIDE") == Installation(
            "T0INSTALLED"
        )
    # An org-level token: auth.test names the enterprise (and no workspace, or the enterprise as one).
    for org in ({"team_id": "E0ORG", "enterprise_id": "E0ORG"}, {"team_id": None, "enterprise_id": "E0ORG"}):
        assert from_token(org) == Installation("", "E0ORG")
        assert installation_of(body("orgwide_slash_command"), org, "T0ORGA", "E0ORG").key == "E0ORG"
    grid = {"team_id": "T0GRID", "enterprise_id": "E0GRID"}
    assert installation_of(body("grid_slash_command"), grid, "T0GRID", "E0GRID") == Installation(
        "T0GRID", "E0GRID"
    )
    # No token result (never in a running bot): what the payload says, else the team it names.
    assert installation_of(body("connect_view_submission"), None, "T0OTHERSIDE") == Installation(
        "T0INSTALLED"
    )
    assert installation_of(body("connect_message_shortcut"), None, "T0OTHERSIDE") == Installation(
        "T0OTHERSIDE"
    )


def test_who_belongs_to_the_installing_organisation():
    workspace, org = Installation("T0INSTALLED"), Installation("", "E0ORG")
    assert workspace.includes("T0INSTALLED") and not workspace.includes("T0OTHERSIDE", "E0OTHERSIDE")
    assert org.includes("T0ORGB", "E0ORG") and not org.includes("T0OTHERSIDE")
    assert workspace.includes("")  # Slack didn't say: treated as the organisation's own, as before
