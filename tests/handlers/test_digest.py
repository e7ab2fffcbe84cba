"""The threshold digest: `/digest` shows and sets the schedule; the clock sends it with the right content."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.clock import run_due
from bot.payloads import buttons_in
from handlers.commands.digest import ScheduleError, parse_schedule
from storage import people
from storage.models import (
    FeatureRequest,
    Occurrence,
    Outbox,
    Person,
    ProductArea,
    ScheduledSend,
    ThresholdCrossing,
    Workspace,
)

# Monday 2026-11-30 09:00 in New York (EST, UTC-5).
MONDAY_9_NY = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def blob(call) -> str:
    return json.dumps(call.args.get("blocks") or [], ensure_ascii=False) + call.args.get("text", "")


def make_pm(bolt, user="UPM", area="Reporting", tz="America/New_York", name="Pat PM"):
    """An admin makes `user` a PM owning `area`, over the real /partnerbot command."""
    bolt.fake.add_user(user, name=name, tz=tz)
    bolt.fake.add_user("U0ADMIN", name="Ada Admin")
    reply = bolt.driver.command("U0ADMIN", "/partnerbot", f"pm add <@{user}|{name}> {area}")
    assert "is now a PM" in reply.text, reply.text


def seed_requests(engine, *, pm_user="UPM", now=MONDAY_9_NY, area_name="Reporting"):
    """Requests in the PM's area: one crossed, one close, one "not yet" heard again, one quiet."""
    with Session(engine, expire_on_commit=False) as s:
        ws = s.exec(select(Workspace)).first()
        pm = s.exec(select(Person).where(Person.slack_user_id == pm_user)).one()
        sales = people.ensure_person(session=s, workspace=ws, slack_user_id="USALES", name="Sam Sales")
        area = s.exec(select(ProductArea).where(ProductArea.name == area_name)).one()
        area.focus = "Self-serve dashboards"
        s.add(area)

        def request(title, status="open", reason="", created=now - timedelta(days=20)):
            r = FeatureRequest(
                workspace_id=ws.id,
                area_id=area.id,
                title=title,
                status=status,
                status_reason=reason,
                created_at=created,
            )
            s.add(r)
            s.flush()
            return r

        def occ(r, days_ago, **kw):
            o = Occurrence(
                workspace_id=ws.id,
                request_id=r.id,
                logged_by_id=sales.id,
                text=r.title,
                created_at=now - timedelta(days=days_ago),
                **kw,
            )
            s.add(o)
            s.flush()
            return o

        csv = request("CSV export of the weekly report")
        for i, (customer, cents) in enumerate(
            [("Acme", 4_000_000), ("Globex", 12_000_000), ("Acme", 1_000_000), ("", None), ("Initech", None)]
        ):
            last = occ(
                csv,
                10 - i,
                customer=customer,
                amount_cents=cents,
                currency="USD" if cents else "",
                impacts="churn_risk" if i % 2 == 0 else "lost_deal,churn_risk",
                frequency="weekly",
                focus_tie="Dashboards need the same export" if i == 4 else "",
            )
        s.add(
            ThresholdCrossing(
                workspace_id=ws.id,
                request_id=csv.id,
                rule="count",
                window_key="count:w0:r0",
                occurrence_id=last.id,
                crossed_at=now - timedelta(days=1),
            )
        )
        close = request("<!channel> dark mode & <b>themes</b>")
        for d in (3, 4, 5):
            occ(close, d, customer="Hooli", frequency="daily", impacts="support_load")
        not_yet = request("SSO with Okta", status="not_yet", reason="After the Q1 billing launch")
        occ(not_yet, 40, customer="Umbrella")
        occ(not_yet, 2, customer="Umbrella")
        quiet = request("Quiet little thing")
        occ(quiet, 12)
        s.commit()
        return {"csv": csv, "close": close, "not_yet": not_yet, "quiet": quiet, "pm": pm, "area": area}


def digests_to(fake, user):
    return [c for c in fake.posts_to(user) if "digest" in blob(c).lower() or "Nothing crossed" in blob(c)]


def test_weekly_digest_content_buttons_escaping_and_sent_once(bolt, clock):
    clock.set(MONDAY_9_NY - timedelta(days=10))  # the PM joined the Friday before the 23rd
    make_pm(bolt)
    seeded = seed_requests(bolt.deps.engine)

    assert run_due(bolt.deps, MONDAY_9_NY - timedelta(minutes=1)) == 0  # 08:59 local: not yet
    assert run_due(bolt.deps, MONDAY_9_NY) == 1
    assert run_due(bolt.deps, MONDAY_9_NY + timedelta(minutes=30)) == 0  # claimed: never twice
    bolt.deps.worker.drain()
    posts = digests_to(bolt.fake, "UPM")
    assert len(posts) == 1
    text = blob(posts[0])
    # Crossed: count vs threshold, distinct customers, money (largest per customer), impact, frequency, tie.
    assert "Crossed the threshold" in text and "CSV export of the weekly report" in text
    assert "5/5 in 30 days" in text and "3 customers" in text and "$160k" in text
    assert "mostly churn risk" in text and "weekly" in text and "Dashboards need the same export" in text
    # Close (3 of 5 = 60%), escaped so nobody is pinged.
    assert "Close to the threshold" in text and "3/5 in 30 days" in text
    assert "&lt;!channel&gt; dark mode &amp; &lt;b&gt;themes&lt;/b&gt;" in text and "<!channel>" not in text
    # "Not yet" heard again since the last digest, with its reason.
    assert (
        "SSO with Okta" in text
        and "After the Q1 billing launch" in text
        and "+1 since the last digest" in text
    )
    assert "Quiet little thing" not in text
    actions = {(b["action_id"], b["value"]) for b in buttons_in(posts[0].args["blocks"])}
    assert ("req_planned", str(seeded["csv"].id)) in actions and (
        "req_shipped",
        str(seeded["close"].id),
    ) in actions
    assert ("req_not_yet", str(seeded["not_yet"].id)) in actions
    # Crossed in digest mode reads like the alert would have: who asked, and Reset.
    assert "*Who asked*" in text and ("req_reset_threshold", str(seeded["csv"].id)) in actions
    assert len(posts[0].args["blocks"]) <= 50
    with Session(bolt.deps.engine) as s:
        pm = s.exec(select(Person).where(Person.slack_user_id == "UPM")).one()
        assert pm.last_digest_at == MONDAY_9_NY
        claims = {r.key: r.kind for r in s.exec(select(ScheduledSend))}
        assert claims[f"digest:{pm.id}:2026-11-30"] == "digest"
        # Monday the 23rd passed with no clock running (more than 24 h ago): skipped, and claimed as such.
        assert claims[f"digest:{pm.id}:2026-11-23"] == "digest_skipped"
        assert s.exec(select(Outbox).where(Outbox.kind == "digest")).one().status == "sent"

    # The next week: the crossing was already reported, nothing new is heard — but still-close shows.
    assert run_due(bolt.deps, MONDAY_9_NY + timedelta(days=7)) == 1
    bolt.deps.worker.drain()
    second = blob(digests_to(bolt.fake, "UPM")[-1])
    assert "Crossed the threshold" not in second and "SSO with Okta" not in second
    assert "Still over the threshold" in second and "CSV export" in second


def test_an_empty_week_says_so_in_one_line(bolt, clock):
    clock.set(MONDAY_9_NY - timedelta(days=3))
    make_pm(bolt, user="UEMPTY", area="Billing")
    assert run_due(bolt.deps, MONDAY_9_NY) == 1
    bolt.deps.worker.drain()
    post = bolt.fake.posts_to("UEMPTY")[-1]
    assert post.args["text"] == "Nothing crossed or came close this week — 0 new requests in Billing."


def test_digest_command_shows_sets_and_refuses(bolt, clock):
    clock.set(MONDAY_9_NY - timedelta(days=2))
    make_pm(bolt)
    seed_requests(bolt.deps.engine, now=clock.now())
    d = bolt.driver
    shown = d.command("UPM", "/digest", "")
    assert "weekly on Monday at 09:00 (America/New_York)" in shown.text and "Next one:" in shown.text
    assert "CSV export of the weekly report" in json.dumps(shown.json["blocks"])

    assert "daily at 08:00" in d.command("UPM", "/digest", "daily 8").text
    reply = d.command("UPM", "/digest", "weekly on Thu at 2pm")
    assert "weekly on Thursday at 14:00" in reply.text
    with Session(bolt.deps.engine) as s:
        pm = s.exec(select(Person).where(Person.slack_user_id == "UPM")).one()
        assert (pm.digest_cadence, pm.digest_weekday, pm.digest_hour) == ("weekly", 3, 14)
    assert "*off*" in d.command("UPM", "/digest", "off").text
    bad = d.command("UPM", "/digest", "fortnightly on <!here> at 25")
    assert "You typed: `fortnightly on @here at 25`" in bad.text and "/digest weekly monday 9" in bad.text
    assert "25" in d.command("UPM", "/digest", "daily 25").text
    with Session(bolt.deps.engine) as s:
        assert s.exec(select(Person).where(Person.slack_user_id == "UPM")).one().digest_cadence == "off"

    refused = d.command("USALES", "/digest", "daily 8")
    assert "Only PMs" in refused.text and "daily 8" in refused.text
    assert "for PMs" in d.command("USALES", "/digest", "").text


def test_off_sends_nothing_and_a_changed_schedule_does_not_fire_late(bolt, clock):
    clock.set(MONDAY_9_NY - timedelta(days=2))
    make_pm(bolt)
    d = bolt.driver
    d.command("UPM", "/digest", "off")
    assert run_due(bolt.deps, MONDAY_9_NY) == 0
    # Set a daily hour that has just passed: today's is not sent late, tomorrow's is sent.
    now = clock.now()
    hour = (now.astimezone(ZoneInfo("America/New_York")) - timedelta(hours=1)).hour
    assert f"daily at {hour:02d}:00" in d.command("UPM", "/digest", f"daily {hour}").text
    assert run_due(bolt.deps, now) == 0
    assert run_due(bolt.deps, now + timedelta(days=1)) == 1


def test_parse_schedule_is_lenient():
    assert parse_schedule("weekly on Mon at 9am").__dict__ == {"cadence": "weekly", "weekday": 0, "hour": 9}
    assert parse_schedule("Tuesdays 10:00").__dict__ == {"cadence": "weekly", "weekday": 1, "hour": 10}
    assert parse_schedule("every day at 8 pm").__dict__ == {"cadence": "daily", "weekday": None, "hour": 20}
    assert parse_schedule("12am daily").hour == 0 and parse_schedule("12pm").hour == 12
    assert parse_schedule("OFF").cadence == "off"
    for bad in ("sometimes", "daily monday 9", "9:30", "13pm", "off at 9", ""):
        try:
            parse_schedule(bad)
        except ScheduleError:
            continue
        raise AssertionError(f"{bad!r} should not parse")


def test_a_full_digest_stays_within_slacks_50_blocks_and_says_what_it_left_out():
    from handlers.digest_builder import digest_blocks
    from storage.digest import DigestData, RequestLine
    from storage.models import FeatureRequest, Occurrence, ProductArea

    area = ProductArea(id=1, workspace_id=1, name="Reporting", name_key="reporting", threshold_count=5)
    pm = Person(id=1, workspace_id=1, slack_user_id="UPM", tz="UTC")
    now = datetime(2026, 11, 30, 9, tzinfo=UTC)

    def lines(prefix, n):
        return [
            RequestLine(
                request=FeatureRequest(
                    id=100 * len(prefix) + i, workspace_id=1, area_id=1, title=f"{prefix} {i}"
                ),
                area=area,
                count=5,
                rules=["count"],
                recent=[Occurrence(logged_by_id=1, customer=f"Cust {i}", created_at=now, text="x")],
                people={1: pm},
            )
            for i in range(n)
        ]

    data = DigestData(
        pm=pm,
        areas=[area],
        since=now - timedelta(days=7),
        now=now,
        crossed=lines("crossed", 6),
        still_over=lines("over", 6),
        close=lines("close", 6),
        not_yet=lines("notyet", 6),
    )
    built = digest_blocks(data)
    text = json.dumps(built)
    assert len(built) <= 50
    with_chart = digest_blocks(data, charts={1: "F0CHART"})
    assert len(with_chart) <= 50 and with_chart[1]["slack_file"] == {"id": "F0CHART"}
    assert "crossed 5" in text and "Who asked" in text  # every crossed one, with who asked where room allows
    assert "showing" in text and "of 6" in text  # what did not fit is said, not silently dropped


def test_the_digest_shows_each_areas_chart_drawn_at_most_once_a_day(bolt, clock):
    from tests.handlers.test_home import open_home  # test_home imports this module's helpers

    """The chart in the digest is the one the Home tab shows: one upload per area per day, wherever first."""
    clock.set(MONDAY_9_NY - timedelta(days=10))
    make_pm(bolt)
    seed_requests(bolt.deps.engine)
    clock.set(MONDAY_9_NY)
    assert run_due(bolt.deps, MONDAY_9_NY) == 1
    bolt.deps.worker.drain()
    post = digests_to(bolt.fake, "UPM")[0]
    images = [b for b in post.args["blocks"] if b["type"] == "image"]
    assert len(images) == 1 and images[0]["alt_text"].startswith("Reporting: occurrences per week")
    file_id = images[0]["slack_file"]["id"]
    stored = bolt.fake.files[file_id]
    assert stored["complete"] and stored["data"].startswith(b"\x89PNG") and len(stored["data"]) > 10_000
    # The Home tab the same day shows that very chart; the preview too; nothing is uploaded again.
    home = open_home(bolt, "UPM")
    assert {b["slack_file"]["id"] for b in home["blocks"] if b["type"] == "image"} == {file_id}
    preview = bolt.driver.command("UPM", "/digest", "preview").json["blocks"]
    assert [b["slack_file"]["id"] for b in preview if b["type"] == "image"] == [file_id]
    assert len(bolt.fake.calls_to("files.completeUploadExternal")) == 1


def link_issue(engine, request_id, *, key, title="", state="", state_label="", kind="github"):
    """A request linked to a tracker issue, with the issue's last known state (as the webhook leaves it)."""
    from storage.models import IssueLink

    owner, repo_number = key.split("/", 1)
    repo, number = repo_number.split("#")
    with Session(engine) as s:
        request = s.get(FeatureRequest, request_id)
        s.add(
            IssueLink(
                workspace_id=request.workspace_id,
                request_id=request_id,
                kind=kind,
                issue_key=key,
                url=f"https://github.com/{owner}/{repo}/issues/{number}",
                title=title,
                state=state,
                state_label=state_label,
            )
        )
        s.commit()


def section_of(blocks, words: str) -> str:
    """The text of the one section block that names `words`."""
    found = [b["text"]["text"] for b in blocks if b["type"] == "section" and words in b["text"]["text"]]
    assert len(found) == 1, found
    return found[0]


def test_the_digest_shows_each_linked_issues_status_escaped_and_nothing_for_unlinked(bolt, clock):
    clock.set(MONDAY_9_NY - timedelta(days=10))
    make_pm(bolt)
    seeded = seed_requests(bolt.deps.engine)
    link_issue(
        bolt.deps.engine,
        seeded["csv"].id,
        key="acme/app#12",
        title="<!channel> Weekly CSV export",
        state="started",
        state_label="<!here> In review",
    )
    link_issue(bolt.deps.engine, seeded["not_yet"].id, key="acme/app#40")  # linked, no state heard yet
    assert run_due(bolt.deps, MONDAY_9_NY) == 1
    bolt.deps.worker.drain()
    blocks = digests_to(bolt.fake, "UPM")[0].args["blocks"]
    crossed = section_of(blocks, "CSV export of the weekly report")
    # The same words `/requests #N` uses, beside the request; the issue's own text pings nobody.
    assert (
        "_Issue:_ GitHub <https://github.com/acme/app/issues/12|acme/app#12> "
        "“&lt;!channel&gt; Weekly CSV export” — *in progress* (&lt;!here&gt; In review)"
    ) in crossed
    assert "<!channel>" not in json.dumps(blocks) and "<!here>" not in json.dumps(blocks)
    assert "issues/40|acme/app#40> — status not known yet" in section_of(blocks, "SSO with Okta")
    # A request with no link shows nothing extra.
    close = section_of(blocks, "dark mode")
    assert "Issue:" not in close and "GitHub" not in close
    # `/requests #N` says it in the very same words.
    detail = bolt.driver.command("UPM", "/requests", f"#{seeded['csv'].id}").json["blocks"]
    assert "— *in progress* (&lt;!here&gt; In review)" in section_of(
        detail, "CSV export of the weekly report"
    )


def test_the_digest_loads_linked_issues_in_one_query_however_many_are_linked(bolt, clock):
    from sqlalchemy import event

    from storage.digest import digest_data

    clock.set(MONDAY_9_NY - timedelta(days=10))
    make_pm(bolt)
    seeded = seed_requests(bolt.deps.engine)
    engine = bolt.deps.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def digest_queries() -> tuple[int, int, int]:
        with Session(engine) as s:
            pm = s.exec(select(Person).where(Person.slack_user_id == "UPM")).one()
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                data = digest_data(session=s, pm=pm, since=MONDAY_9_NY - timedelta(days=7), now=MONDAY_9_NY)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            shown = [*data.crossed, *data.still_over, *data.close, *data.not_yet]
            on_links = sum("issue_link" in q for q in statements)
            return len(statements), on_links, sum(len(line.links) for line in shown)

    _, on_links, linked = digest_queries()
    assert (on_links, linked) == (1, 0)  # asked once even with nothing linked
    link_issue(engine, seeded["csv"].id, key="acme/app#12", state="open")
    one, on_links, linked = digest_queries()
    assert (on_links, linked) == (1, 1)
    link_issue(engine, seeded["close"].id, key="acme/app#13", state="done")
    link_issue(engine, seeded["not_yet"].id, key="acme/app#14", state="canceled")
    link_issue(engine, seeded["csv"].id, key="acme/web#2", state="started")
    three, on_links, linked = digest_queries()
    assert (on_links, linked) == (1, 4) and three == one
    assert one <= 8  # the figure storage/digest.py and README state
