"""The local shell, run as a new user would: `python -m bot shell` with a script on stdin.

Assertions are on the transcript a user reads and on what ends up in the SQLite file.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.settings import Settings
from bot.shell import Shell, line_reader, mrkdwn, parse_delta, user_id_for
from storage.db import make_engine
from storage.models import Occurrence, Person, ProductArea

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "DATABASE_URL"}
    env.update(PARTNERBOT_EMBEDDINGS="0", PYTHONPATH=str(ROOT), **extra)
    return env


def run_shell(tmp_path: Path, script: str, *args: str, mode: tuple[str, ...] = ("shell",)) -> str:
    db = tmp_path / "shell.db"
    argv = [*mode, "--db", f"sqlite:///{db}", "--as", "dana", *args] if mode else list(args)
    done = subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        input=script,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no .env with real tokens here
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done.stdout


def occurrences(tmp_path: Path) -> list[Occurrence]:
    engine = make_engine(f"sqlite:///{tmp_path / 'shell.db'}")
    with Session(engine) as session:
        rows = list(session.exec(select(Occurrence).order_by(Occurrence.id)))
    engine.dispose()
    return rows


def test_logging_a_request_through_the_modal_with_a_bad_amount_then_a_good_one(tmp_path):
    script = "\n".join(
        [
            "/request CSV export for Acme",
            "",  # keep the prefilled request
            "Acme Corp",
            "40 grand",
            "2",  # a few times a month
            "every month-end close",
            "They rebuild the report by hand \\",
            "in a spreadsheet",
            "1,3",  # lost deal, blocked onboarding
            "",
            "",
            "$40k",  # asked again: only the amount
        ]
    )
    out = run_shell(tmp_path, script + "\n")
    assert "dana> /request CSV export for Acme" in out
    assert "┌─ modal: Log a request" in out
    assert "answer [CSV export for Acme]" in out
    assert "2) [ ] A few times a month" in out
    assert "✗ Money involved (deal size or annual account value): I couldn't read “40 grand”" in out
    assert "answer [40 grand]: $40k" in out
    assert "bot → @dana (DM):" in out
    assert "Logged for *General*: *CSV export for Acme*" in out
    assert "*Customer:* Acme Corp ($40k)" in out

    [occ] = occurrences(tmp_path)
    assert occ.text == "CSV export for Acme"
    assert occ.customer == "Acme Corp"
    assert (occ.amount_cents, occ.currency) == (4_000_000, "USD")
    assert occ.frequency == "monthly"
    assert occ.frequency_detail == "every month-end close"
    assert occ.root_problem == "They rebuild the report by hand \nin a spreadsheet"
    assert occ.impacts == "lost_deal,blocked_onboarding"
    assert occ.focus_tie == ""


def test_request_help_and_bad_input_never_crash(tmp_path):
    script = "\n".join(
        [
            "/request help",
            ":frobnicate",
            "hello there",
            ":click 3",
            ":time soon",
            "/nonexistent thing",
            ":views",
            "/request Single sign-on",
            "",
            "Globex",  # then the input ends with the form open
        ]
    )
    out = run_shell(tmp_path, script + "\n")
    assert "bot → @dana (only you):" in out
    assert "/request [what the customer needs]" in out and "/partnerbot help" in out
    assert "I don't know “:frobnicate”. Try :help" in out
    assert "“hello there” isn't a command. Type a slash command like /request hello there" in out
    assert "(there are no buttons to click" in out
    assert "I can't read “soon” as a time. Try :time +7d" in out
    assert "I don't have a /nonexistent command. Try `/request help`." in out
    assert "(no modal is open)" in out
    assert "(end of input — the open form was not submitted)" in out
    assert occurrences(tmp_path) == []


def test_focus_refusal_then_admin_makes_a_pm_with_a_mention(tmp_path):
    script = "\n".join(
        [
            "/focus Reporting: faster exports",  # dana is the first user: admin, but not a PM
            "/partnerbot pm add @pat Reporting",
            ":as pat",
            "/focus Reporting: Make exports self-serve",
            "/focus",
        ]
    )
    out = run_shell(tmp_path, script + "\n")
    assert "Only PMs can set the focus." in out
    assert "You typed: `Reporting: faster exports`" in out
    assert "@pat is now a PM and owns *Reporting*." in out
    assert "(you are now @pat, UPAT)" in out
    assert "pat> /focus Reporting: Make exports self-serve" in out
    assert "• *Reporting* (@pat): Make exports self-serve" in out

    engine = make_engine(f"sqlite:///{tmp_path / 'shell.db'}")
    with Session(engine) as session:
        people = {p.slack_user_id: p for p in session.exec(select(Person))}
        area = session.exec(select(ProductArea).where(ProductArea.name == "Reporting")).one()
    engine.dispose()
    assert people["UDANA"].is_admin and not people["UDANA"].is_pm
    assert people["UPAT"].is_pm and people["UPAT"].name == "pat"
    assert area.focus == "Make exports self-serve" and area.pm_id == people["UPAT"].id


def test_follow_up_dm_button_clicked_by_number_after_time_passes(tmp_path):
    script = "\n".join(
        [
            "/request Audit log export",
            "",
            "Initech",
            ":submit",
            ":messages",
            ":time +2h",
            ":click 3",
            ":time +1d",
        ]
    )
    out = run_shell(tmp_path, script + "\n")
    assert "You skipped" in out
    dm = out.split("dana> :time +2h", 1)[1]
    assert "A few questions about the request you logged for *Initech*: *Audit log export*" in dm
    assert "*How much money is involved (deal size or annual account value)?*\n    [1] Answer" in dm
    assert "    [2] First time  [3] A few times a month  [4] Weekly  [5] Daily" in dm
    assert "(you click “A few times a month”)" in dm
    assert "bot updated its message to @dana (DM):" in dm
    assert "*How often:* A few times a month" in dm
    assert "dana> :time +1d" in out

    [occ] = occurrences(tmp_path)
    assert occ.customer == "Initech" and occ.frequency == "monthly"


def test_shortcut_logs_a_message_with_its_link_and_author(tmp_path):
    script = "\n".join([":as pat", ":shortcut Globex wants SSO <!channel>", "", ":submit"])
    out = run_shell(tmp_path, script + "\n")
    assert "@pat in #general: Globex wants SSO <!channel>" in out
    assert "From this message (https://fake.slack.com/archives/C0GENERAL/" in out
    assert "bot → @pat (DM):" in out
    [occ] = occurrences(tmp_path)
    assert occ.source == "shortcut" and occ.text == "Globex wants SSO @channel"  # as typed in Slack
    assert occ.permalink.startswith("https://fake.slack.com/archives/C0GENERAL/")


def test_plain_python_m_bot_without_tokens_opens_the_shell(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        input=":as dana\n/request help\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "dana> /request help" in done.stdout
    assert "/request [what the customer needs]" in done.stdout
    assert (tmp_path / "partnerbot.db").exists()  # the default SQLite file


# -- in-process: the modal machinery on views the app may answer with --------------------------------
def in_process_shell(tmp_path: Path, script: str) -> tuple[Shell, io.StringIO]:
    out = io.StringIO()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'inproc.db'}", prefer_embeddings=False)
    shell = Shell(
        settings,
        user="dana",
        tz="Europe/Berlin",
        lines=line_reader(io.StringIO(script), out, echo=True),
        out=out,
        script=True,
    )
    return shell, out


def test_update_errors_on_a_radio_field_and_cancel(tmp_path):
    shell, out = in_process_shell(
        tmp_path,
        "/twostep\nfirst answer\n7\n\n:submit\n2\n/twostep\n:cancel\n",
    )
    seen: dict[str, object] = {}
    choice_view = {
        "type": "modal",
        "callback_id": "step_two",
        "title": {"type": "plain_text", "text": "Same thing?"},
        "submit": {"type": "plain_text", "text": "Log it"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Looks like an existing request &amp; more"},
            },
            {
                "type": "input",
                "block_id": "choice",
                "label": {"type": "plain_text", "text": "Which one?"},
                "element": {
                    "type": "radio_buttons",
                    "action_id": "value",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Same as: CSV"}, "value": "req:1"},
                        {"text": {"type": "plain_text", "text": "It's new"}, "value": "new"},
                    ],
                },
            },
        ],
    }

    def twostep(ack, client, body):
        ack()
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "step_one",
                "notify_on_close": True,
                "title": {"type": "plain_text", "text": "Step one"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "what",
                        "label": {"type": "plain_text", "text": "What?"},
                        "element": {"type": "plain_text_input", "action_id": "value"},
                    }
                ],
            },
        )

    def step_one(ack, view):
        seen["what"] = view["state"]["values"]["what"]["value"]["value"]
        ack(response_action="update", view=choice_view)

    def step_two(ack, view):
        picked = view["state"]["values"]["choice"]["value"]["selected_option"]
        if picked is None:
            ack(response_action="errors", errors={"choice": "Pick one, or “It's new”."})
            return
        seen["choice"] = picked["value"]
        ack()

    def closed(ack, view):
        seen["closed"] = view["callback_id"]
        ack()

    shell.app.command("/twostep")(twostep)
    shell.app.view("step_one")(step_one)
    shell.app.view("step_two")(step_two)
    shell.app.view_closed("step_one")(closed)
    try:
        assert shell.run() == 0
    finally:
        shell.close()
    text = out.getvalue()
    assert "Looks like an existing request & more" in text
    assert "“7” isn't one of 1–2." in text  # a bad number is explained and asked again
    assert "This field is required" in text  # and so is an empty answer to a required choice
    assert "✗ Which one?: Pick one, or “It's new”." in text
    assert seen == {"what": "first answer", "choice": "new", "closed": "step_one"}
    assert "(you close the modal)" in text


def test_helpers():
    assert user_id_for("dana") == "UDANA" and user_id_for("U012ABC") == "U012ABC"
    assert user_id_for("@mary.jo") == "UMARYJO"
    assert parse_delta("+7d").days == 7 and parse_delta("90m").seconds == 5400
    assert parse_delta("+1h30m").seconds == 5400
    with pytest.raises(ValueError):
        parse_delta("soon")


def test_a_week_forward_from_tuesday_still_delivers_mondays_digest_once(tmp_path, clock):
    from datetime import UTC, datetime

    clock.set(datetime(2027, 3, 2, 10, 0, tzinfo=UTC))  # a Tuesday
    shell, out = in_process_shell(
        tmp_path, "/partnerbot pm add @dana Reporting\n/focus Reporting: onboarding\n:time +7d\n:time +2h\n"
    )
    try:
        assert shell.run() == 0
    finally:
        shell.close()
    text = out.getvalue()
    assert "(the clock moves forward 7d" in text
    # Monday 09:00 in Berlin fell inside the week: sent on the way, once, not skipped as missed.
    assert text.count("Nothing crossed or came close this week") == 1, text


def test_mrkdwn_rendering():
    class Names:
        def of(self, uid: str) -> str:
            return uid[1:].lower()

    rendered = mrkdwn("Hi <@UDANA>, see <https://x.test|this> &lt;b&gt; &amp; <!here> *bold*", Names())
    assert rendered == "Hi @dana, see this (https://x.test) <b> & @here *bold*"


def test_a_failing_listener_is_reported_and_the_shell_goes_on(tmp_path):
    shell, out = in_process_shell(tmp_path, "/boom it broke\n/request help\n")

    def boom(ack, body):
        raise RuntimeError("database on fire")

    shell.app.command("/boom")(boom)
    try:
        assert shell.run() == 0
    finally:
        shell.close()
    text = out.getvalue()
    assert "HTTP 500" not in text  # Slack is never answered with a 5xx for a genuine payload
    assert (
        "Sorry — something went wrong on my side, so I couldn't finish that. Here is what you typed" in text
    )
    assert "> /boom it broke" in text
    assert "dana> /request help" in text and "/request [what the customer needs]" in text


def test_the_same_thing_step_answered_by_number(tmp_path):
    from matching.live import MatchIndex

    # "1" answers the suggestions; Enter leaves the search below them empty.
    script = "/request CSV export of the weekly report\n:submit\n/request Export the weekly report as CSV\n:submit\n1\n\n"
    shell, out = in_process_shell(tmp_path, script)
    shell.deps.matcher = MatchIndex(prefer_embeddings=False)  # as build_deps will set it
    try:
        assert shell.run() == 0
        with Session(shell.deps.engine) as session:
            rows = list(session.exec(select(Occurrence)))
    finally:
        shell.close()
    text = out.getvalue()
    assert "┌─ modal: Same thing?" in text
    assert "1) [ ] Same as: CSV export of the weekly report — heard 1×" in text
    assert "heard 2× in the last 30 days" in text
    assert len(rows) == 2 and rows[0].request_id == rows[1].request_id


def test_angle_brackets_typed_in_the_shell_are_stored_as_typed(tmp_path):
    run_shell(tmp_path, "/request Export <script>alert(1)</script> & CSV\n:submit\n")
    assert [o.text for o in occurrences(tmp_path)] == ["Export <script>alert(1)</script> & CSV"]
