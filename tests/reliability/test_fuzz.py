"""Property-based fuzzing of every slash command's text and every field of the request form, on SQLite
and PostgreSQL: no 5xx, no traceback, and nothing the bot says can ping a channel or a group.

CI runs a short budget; `FUZZ_EXAMPLES=500 make fuzz` runs the long version.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_deps, create_app
from bot.driver import Driver
from bot.fake_slack import TEAM_ID
from tests.conftest import SIGNING_SECRET, test_settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    c["command"] for c in yaml.safe_load((ROOT / "manifest.yml").read_text())["features"]["slash_commands"]
]

# Slack's markup for pings, as it arrives in a command or a field (Slack escapes what people type, so
# these are what a real `@channel` or a pasted token looks like).
PINGS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0TEAM|@team>",
    "<!here|here>",
    "<!channel|channel>",
]
MARKUP = PINGS + [
    "<@U0OTHER>",
    "<@U0OTHER|bob>",
    "<#C0DEALS|deals>",
    "<https://evil.example|click>",
    "&lt;b&gt;",
]
WORDS = [
    "help", "mine", "list", "pm", "add", "remove", "Reporting", "Billing", "every", "weeks", "on", "daily",
    "weekly", "off", "cancel", "done", "#1", "#0", "#99999999999999999999", "$40k", "€40.000", "1.2M", "-5",
    "NaN", "1e309", "5 in 30 days", "$50k per year", "count", "amount", "digest", "Tuesday", "25", "9am",
    "SSO", "CSV", ":", ",", "\x00", "\u202e", "\ud7ff", "\U0001f600", "é", "ß", "İ", "٣", "²", "\t", "\n",
]  # fmt: skip
PING_OUT = re.compile(r"<!(channel|here|everyone|subteam\^)[^>]*>")

pieces = st.one_of(
    st.sampled_from(MARKUP + WORDS),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
)
typed = st.lists(pieces, max_size=12).map(" ".join) | st.text(max_size=3000) | st.just("x" * 40_000)


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, fake_slack, tmp_path, migrated_sqlite):
    """The real app in-process, on either database (PostgreSQL tables emptied first)."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_server_url")
        request.getfixturevalue("pg_engine")
    else:
        url = migrated_sqlite(tmp_path / "fuzz.db")
    config = test_settings(fake_slack, url)
    deps = build_deps(config, start_worker=False)
    bolt_app = create_app(config, deps, process_before_response=True)
    yield SimpleNamespace(
        driver=Driver(bolt_app, fake_slack, SIGNING_SECRET, TEAM_ID), fake=fake_slack, deps=deps
    )
    deps.engine.dispose()


def rendered(obj: object) -> list[str]:
    """The strings Slack renders as mrkdwn (where `<!channel>` would ping): message and section text.
    Plain-text objects, input values and form errors are shown as typed and ping nobody."""
    if isinstance(obj, list):
        return [s for item in obj for s in rendered(item)]
    if not isinstance(obj, dict) or obj.get("type") == "plain_text" or "response_action" in obj:
        return []
    found = [obj["text"]] if isinstance(obj.get("text"), str) else []
    for key, value in obj.items():
        if key not in ("initial_value", "value", "private_metadata") and not isinstance(value, str):
            found += rendered(value)
    return found


def said_by_the_bot(fake, since: int) -> list[str]:
    """Everything the bot sent to Slack since call `since` that Slack would render as mrkdwn."""
    return [s for c in fake.calls[since:] for s in rendered(c.args)]


def check(reply, fake, since: int, caplog) -> None:
    assert reply.status < 500, reply.body[:500]
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    for text in said_by_the_bot(fake, since) + rendered(reply.json):
        assert not PING_OUT.search(text), text[:300]


fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def test_the_ping_check_reads_what_slack_renders():
    message = {
        "text": "hi <!here>",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "x <!channel>"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<!subteam^S1>"}]},
            {
                "type": "input",
                "element": {"initial_value": "<!here>"},
                "label": {"type": "plain_text", "text": "y"},
            },
        ],
    }
    assert rendered(message) == ["hi <!here>", "x <!channel>", "<!subteam^S1>"]


def test_the_fuzz_covers_every_command_in_the_manifest():
    assert sorted(COMMANDS) == sorted(
        ["/request", "/requests", "/focus", "/threshold", "/digest", "/oneonone", "/agenda", "/partnerbot"]
    )


@fuzz
@given(data=st.data())
def test_every_slash_command_survives_any_text(app, caplog, data):
    caplog.clear()
    command = data.draw(st.sampled_from(COMMANDS))
    text = data.draw(typed)
    user = data.draw(st.sampled_from(["UADMIN", "UPM", "UREP"]))
    since = len(app.fake.calls)
    reply = app.driver.command(user, command, text)
    check(reply, app.fake, since, caplog)


FIELDS = ["request", "customer", "amount", "frequency_detail", "root_problem", "impact_detail", "focus_tie"]


@fuzz
@given(data=st.data())
def test_every_field_of_the_request_form_survives_any_text(app, caplog, data):
    caplog.clear()
    d = app.driver
    since = len(app.fake.calls)
    reply = d.command("UREP", "/request", data.draw(typed))
    check(reply, app.fake, since, caplog)
    views = d.opened_views()
    if not views or views[-1].get("callback_id") != "request_modal":
        return  # e.g. `/request help`: answered in place, nothing to fill in
    answers = {field: data.draw(typed) for field in data.draw(st.sets(st.sampled_from(FIELDS)))}
    since = len(app.fake.calls)
    reply = d.submit("UREP", views[-1], answers)
    check(reply, app.fake, since, caplog)
    if reply.json.get("response_action") == "errors":
        # Refused: the form stays open with what was typed, and each error names a field of the form.
        blocks = {b.get("block_id") for b in views[-1]["blocks"]}
        assert set(reply.json["errors"]) <= blocks, reply.json
