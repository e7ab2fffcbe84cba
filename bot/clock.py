"""The clock: what is due (threshold digests, 1:1 agendas) is computed from the database at `now`, claimed
once, and queued in the outbox. APScheduler is only the heartbeat (every minute).

`python -m bot clock` runs it on its own (Procfile `clock:` line) and delivers the outbox too; Socket Mode
and the shell run it in-process with start_in_process(). Several clocks at once are safe: every send is
claimed with a unique ScheduledSend key first (see storage/schedule.py for grace periods and DST rules).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlmodel import select

from bot.oauth import acting_as
from handlers import issues as issue_links
from handlers.charts import area_chart
from handlers.common import Deps
from handlers.digest_builder import (
    CHARTS_IN_DIGEST,
    QUESTIONS_PER_AGENDA,
    agenda_blocks,
    agenda_text,
    digest_blocks,
    digest_summary,
    questions_for,
)
from handlers.home.agenda import partnership_blocks
from handlers.logging_flow import weigh_crm_amount
from integrations import connections
from integrations import http as integration_http
from integrations.base import NotFound, ServiceError
from integrations.crm import crm as crm_service
from matching import encoder
from storage import crm as crm_store
from storage import digest as digest_store
from storage import handled, health, lifecycle, outbox, schedule
from storage import issues as issue_store
from storage.db import PATIENT, session_scope
from storage.matching import refit_adapters, respell_vectors
from storage.models import OneOnOne, Person, utcnow

log = logging.getLogger(__name__)

JOB_ID = "partnerbot-clock"
PM_COLUMNS = (
    Person.id,
    Person.workspace_id,
    Person.tz,
    Person.digest_cadence,
    Person.digest_weekday,
    Person.digest_hour,
    Person.created_at,
)
MEETING_COLUMNS = (OneOnOne.id, OneOnOne.workspace_id, OneOnOne.pm_id, OneOnOne.next_meeting)


def clock_id(deps: Deps) -> str:
    if "clock_id" not in deps.extras:
        deps.extras["clock_id"] = f"clock:{socket.gethostname()}:{os.getpid()}:{id(deps) & 0xFFFF:x}"
    return deps.extras["clock_id"]


# -- one pass ------------------------------------------------------------------------------------
def run_due(deps: Deps, now: datetime | None = None) -> int:
    """Claim and queue everything due at `now` (and what was missed within its grace period); returns how
    many messages were queued. Safe to call from several processes at once, and as often as you like."""
    now = now or utcnow()
    me = clock_id(deps)
    # Plain rows, not ORM objects: this runs every minute in every clock, mostly finding nothing to do.
    with session_scope(deps.engine) as session:
        pms = session.exec(
            select(*PM_COLUMNS).where(
                Person.is_pm.is_(True), Person.digest_cadence != "off", Person.deactivated.is_(False)
            )
        ).all()
        meetings = session.exec(select(*MEETING_COLUMNS).where(OneOnOne.active.is_(True))).all()
        zones = {p.id: p.tz for p in pms}
        # Former PMs who still run 1:1s: their time zone decides when the agenda goes out.
        missing = list({m.pm_id for m in meetings} - zones.keys())
        if missing:
            zones.update(session.exec(select(Person.id, Person.tz).where(Person.id.in_(missing))).all())

    dues: list[tuple[schedule.Due, int]] = []
    for pm in pms:
        due = schedule.digest_due(pm, now)
        if due is not None:
            dues.append((due, pm.workspace_id))
    for meeting in meetings:
        tz = zones.get(meeting.pm_id, "UTC")
        if meeting.next_meeting < schedule.local_date(now, tz):
            # The meeting day is over: a never-sent agenda for it is late (logged once), then move on.
            late = schedule.agenda_due(meeting, tz, now)
            if late is not None:
                dues.append((late, meeting.workspace_id))
            with session_scope(deps.engine) as session:
                row = session.get(OneOnOne, meeting.id)
                schedule.advance_meeting(session=session, oneonone=row, pm_tz=tz, now=now)
            meeting = row
        due = schedule.agenda_due(meeting, tz, now)
        if due is not None:
            dues.append((due, meeting.workspace_id))
    # Claims are never deleted, so a key once seen claimed needs no second look: an idle run costs two
    # queries.
    known: set[str] = deps.extras.setdefault("claimed_keys", set())
    if len(known) > 100_000:
        known.clear()
    dues = [(d, w) for d, w in dues if d.key not in known]
    if not dues:
        return 0
    with session_scope(deps.engine) as session:
        known.update(schedule.claimed_keys(session=session, keys=[d.key for d, _ in dues]))
    queued = 0
    for due, workspace_id in dues:
        if due.key in known:
            continue
        try:
            if due.late:
                with session_scope(deps.engine) as session:
                    schedule.skip_claim(
                        session=session, due=due, workspace_id=workspace_id, claimed_by=me, now=now
                    )
            elif due.kind == "digest":
                queued += queue_digest(deps, due=due, now=now, claimed_by=me)
            else:
                queued += queue_agenda(deps, due=due, now=now, claimed_by=me)
            known.add(due.key)  # sent by us, or claimed by another clock
        except Exception:
            log.exception("could not queue %s; the next run tries again", due.key)
    if queued:
        deps.kick()
    return queued


def queue_digest(deps: Deps, *, due: schedule.Due, now: datetime, claimed_by: str) -> bool:
    with session_scope(deps.engine) as session:
        person = session.get(Person, due.person_id)
        if person is None:
            return False
        if not schedule.claim(
            session=session,
            key=due.key,
            kind="digest",
            workspace_id=person.workspace_id,
            claimed_by=claimed_by,
            now=now,
        ):
            return False
        since = schedule.digest_since(person, due)
        data = digest_store.digest_data(session=session, pm=person, since=since, now=now)
        person.last_digest_at = now
        session.add(person)
        if not data.areas:
            log.info("digest %s: %s owns no product area; nothing sent", due.key, person.slack_user_id)
            return False
        charts = digest_charts(deps, session, data, now) if not data.empty else {}
        outbox.enqueue(
            session=session,
            key=due.key,
            payload={
                "channel": person.slack_user_id,
                "text": digest_summary(data),
                "blocks": digest_blocks(data, charts=charts),
                "unfurl_links": False,
            },
            workspace_id=person.workspace_id,
            kind="digest",
        )
    log.info("queued %s", due.key)
    return True


def digest_charts(deps: Deps, session, data, now: datetime) -> dict[int, str]:
    """Today's chart of each area in the digest, drawn and uploaded only if the Home tab has not already
    done so today (one upload per area per day, wherever it is shown first)."""
    charts: dict[int, str] = {}
    for area in data.areas[:CHARTS_IN_DIGEST]:
        try:
            file_id = area_chart(session=session, client=deps.client, area=area, now=now)
        except Exception:  # a chart is a nicety: the digest goes out without it
            log.exception("chart for area %s in digest failed", area.id)
            continue
        if file_id:
            charts[area.id] = file_id
    return charts


def group_dm(deps: Deps, meeting: OneOnOne, pm: Person, stakeholder: Person) -> str:
    """The PM + stakeholder group DM (conversations.open is idempotent); remembered on the 1:1.
    When Slack refuses (a deactivated user), the agenda goes to the PM alone."""
    if meeting.channel_id:
        return meeting.channel_id
    try:
        response = deps.client.conversations_open(users=f"{pm.slack_user_id},{stakeholder.slack_user_id}")
    except SlackApiError as e:
        log.warning(
            "conversations.open for 1:1 %s: %s; sending to the PM", meeting.id, e.response.get("error")
        )
        return pm.slack_user_id
    channel = str((response.get("channel") or {}).get("id") or "")
    if not channel:
        return pm.slack_user_id
    with session_scope(deps.engine) as session:
        session.exec(update(OneOnOne).where(OneOnOne.id == meeting.id).values(channel_id=channel))
    meeting.channel_id = channel
    return channel


def queue_agenda(
    deps: Deps,
    *,
    due: schedule.Due,
    now: datetime,
    claimed_by: str,
) -> bool:
    with session_scope(deps.engine) as session:
        meeting = session.get(OneOnOne, due.oneonone_id)
        if meeting is None:
            return False
        pm = session.get(Person, meeting.pm_id)
        stakeholder = session.get(Person, meeting.stakeholder_id)
    if pm is None or stakeholder is None:
        return False
    token = deps.tokens.for_workspace(meeting.workspace_id) if deps.tokens else ""
    with acting_as(token):
        channel = group_dm(deps, meeting, pm, stakeholder)
    with session_scope(deps.engine) as session:
        current = session.get(OneOnOne, meeting.id)
        if current is None or not current.active or current.next_meeting != due.period:
            return False
        if not schedule.claim(
            session=session,
            key=due.key,
            kind="agenda",
            workspace_id=current.workspace_id,
            claimed_by=claimed_by,
            now=now,
        ):
            return False
        since = (
            schedule.at_local(current.last_meeting, 0, pm.tz)
            if current.last_meeting
            else min(current.created_at, now) - timedelta(weeks=current.cadence_weeks)
        )
        data = digest_store.agenda_data(
            session=session, oneonone=current, pm=pm, stakeholder=stakeholder, since=since, now=now
        )
        questions = questions_for(current.question_index)
        blocks = agenda_blocks(data, questions)
        # The partnership figures since the last 1:1 go right under the agenda's title.
        blocks[2:2] = partnership_blocks(
            session, meeting=current, pm=pm, stakeholder=stakeholder, since=since, now=now
        )
        outbox.enqueue(
            session=session,
            key=due.key,
            payload={
                "channel": channel,
                "text": agenda_text(data),
                "blocks": blocks[:50],
                "unfurl_links": False,
            },
            workspace_id=current.workspace_id,
            kind="agenda",
            fallback_user_id=pm.slack_user_id,
        )
        current.question_index += QUESTIONS_PER_AGENDA
        session.add(current)
    log.info("queued %s to %s", due.key, channel)
    return True


def prune_handled(deps: Deps, now: datetime, every: timedelta = timedelta(hours=1)) -> int:
    """Forget Slack payloads handled more than a day ago (their retries are long over); at most once an
    hour per clock, so the minutely run stays cheap. Returns how many were deleted."""
    last = deps.extras.get("handled_pruned_at")
    if last is not None and now - last < every:
        return 0
    with session_scope(deps.engine) as session:
        deleted = handled.prune(session=session, now=now)
    deps.extras["handled_pruned_at"] = now
    if deleted:
        log.info("forgot %s handled Slack payload(s) older than %s", deleted, handled.KEEP_FOR)
    return deleted


def drop_old_text(deps: Deps, now: datetime, every: timedelta = timedelta(hours=1)) -> int:
    """PARTNERBOT_RETENTION_DAYS: what people wrote in requests logged longer ago is emptied, at most once
    an hour per clock. Returns how many occurrences were emptied."""
    days = deps.settings.retention_days
    last = deps.extras.get("text_dropped_at")
    if not days or (last is not None and now - last < every):
        return 0
    with session_scope(deps.engine) as session:
        dropped = lifecycle.drop_old_text(session=session, days=days, now=now)
    deps.extras["text_dropped_at"] = now
    if dropped:
        log.info("emptied the words of %s request occurrence(s) older than %s days", dropped, days)
    return dropped


CATCH_UP_EVERY = timedelta(hours=1)


def poll_trackers(deps: Deps, now: datetime, every: timedelta | None = None) -> int:
    """Issue trackers connected without a webhook: fetch their linked issues every PARTNERBOT_POLL_MINUTES
    (5), those with one every hour, and act on what changed, claimed like webhook deliveries so several
    clocks act once
    (handlers/issues.poll_connection). Also forgets deliveries older than storage.issues.KEEP_DELIVERIES.
    Returns how many changes were acted on."""
    if every is None:
        try:
            every = timedelta(minutes=float(os.environ.get("PARTNERBOT_POLL_MINUTES") or 5))
        except ValueError:
            every = timedelta(minutes=5)
    last = deps.extras.get("trackers_polled_at")
    if last is not None and now - last < every:
        return 0
    deps.extras["trackers_polled_at"] = now
    # Hourly, connections with a webhook are asked too: a delivery missed while the app was down.
    caught_up = deps.extras.get("trackers_caught_up_at")
    catch_up = caught_up is None or now - caught_up >= CATCH_UP_EVERY
    if catch_up:
        deps.extras["trackers_caught_up_at"] = now
    changed = 0
    for workspace_id, kind in issue_links.polled_connections(deps.engine, with_webhooks=catch_up):
        try:
            _, n = issue_links.poll_connection(deps.engine, workspace_id=workspace_id, kind=kind, now=now)
        except Exception:  # one workspace's trouble never stops the others
            log.exception("polling %s for workspace %s failed", kind, workspace_id)
            continue
        changed += n
    with session_scope(deps.engine) as session:
        issue_store.prune_deliveries(session, now=now)
    if changed:
        deps.kick()
        log.info("tracker polling acted on %s issue change(s)", changed)
    return changed


def fit_adapters(deps: Deps, now: datetime, every: timedelta = timedelta(hours=1)) -> list[tuple[int, str]]:
    """Each workspace's adapter on query embeddings, refitted from its new "Same as" answers at most once an
    hour per clock, kept only when it beats the base model (matching.adapter). Skipped without the model."""
    last = deps.extras.get("adapters_fitted_at")
    if last is not None and now - last < every:
        return []
    if not deps.settings.prefer_embeddings or encoder.missing_reason():
        return []
    deps.extras["adapters_fitted_at"] = now
    with session_scope(deps.engine) as session:
        verdicts = refit_adapters(session, now=now)
    for workspace_id, verdict in verdicts:
        log.info("matching adapter for workspace %s: %s", workspace_id, verdict)
    return verdicts


def respell(deps: Deps, now: datetime) -> int:
    """Stored vectors from an earlier way of preparing texts (matching.encoder.EARLIER_TAGS), recomputed a
    batch a minute after an upgrade (storage.matching.respell_vectors); nothing to do once none is left."""
    if deps.extras.get("respelt_all") or not deps.settings.prefer_embeddings or encoder.missing_reason():
        return 0

    def matcher() -> Any:
        if "respell_matcher" not in deps.extras:
            from matching.index import Matcher

            deps.extras["respell_matcher"] = Matcher()
        return deps.extras["respell_matcher"]

    with session_scope(deps.engine) as session:
        done = respell_vectors(session, matcher, now=now)
    if done:
        log.info("recomputed %s stored request vector(s) prepared the earlier way", done)
    else:
        deps.extras["respelt_all"] = True
    return done


def refresh_crm(deps: Deps, now: datetime, every: timedelta | None = None) -> int:
    """Keep the money current: every PARTNERBOT_CRM_REFRESH_MINUTES (60), ask the connected CRM for the
    accounts customers were picked as (storage/crm.py: at most MOST_PER_PASS, never-checked first, one call
    per account), confirm picks made while the CRM was down and update CRM-filled amounts. A CRM that fails
    is left until the next pass. Returns how many occurrences' amounts changed."""
    if every is None:
        try:
            every = timedelta(minutes=float(os.environ.get("PARTNERBOT_CRM_REFRESH_MINUTES") or 60))
        except ValueError:
            every = timedelta(minutes=60)
    last = deps.extras.get("crm_refreshed_at")
    if last is not None and now - last < every:
        return 0
    deps.extras["crm_refreshed_at"] = now
    with session_scope(deps.engine) as session:
        due = crm_store.due_accounts(session=session, now=now)
    failing: set[tuple[int, str]] = set()
    changed = alerts = 0
    for item in due:
        kind, _, account_id = item.ref.partition(":")
        if (item.workspace_id, kind) in failing:
            continue
        service = crm_service(kind)
        with session_scope(deps.engine) as session:
            creds = connections.credentials(session, workspace_id=item.workspace_id, kind=kind)
        if service is None or creds is None:
            continue  # not connected (any more): nothing is sent, the last known amount stays
        try:
            account = service.get_account(creds, account_id, deadline=integration_http.timeout())
        except NotFound:
            with session_scope(deps.engine) as session:
                crm_store.forget_unknown(
                    session=session, workspace_id=item.workspace_id, ref=item.ref, now=now
                )
            continue
        except ServiceError as e:
            failing.add((item.workspace_id, kind))
            log.info("refreshing %s accounts of workspace %s: %s", kind, item.workspace_id, e)
            with session_scope(deps.engine) as session:
                row = connections.get_connection(session, workspace_id=item.workspace_id, kind=kind)
                if row is not None:
                    connections.note_check(session, connection_id=row.id, error=str(e), now=now)
            continue
        except Exception:
            log.exception("refreshing %s account %s failed", kind, item.ref)
            continue
        with session_scope(deps.engine) as session:
            ids = crm_store.apply_account(
                session=session,
                workspace_id=item.workspace_id,
                ref=item.ref,
                amount_cents=account.amount_cents,
                currency=account.currency,
                now=now,
            )
            # A CRM amount now over an area's money rule alerts its PM, once per customer (as when typed).
            alerts += sum(weigh_crm_amount(session=session, occurrence_id=i) for i in ids)
        changed += len(ids)
    if changed:
        log.info("CRM refresh changed the amount of %s occurrence(s), %s alert(s)", changed, alerts)
        if alerts:
            deps.kick()
    return changed


# -- the heartbeat -------------------------------------------------------------------------------
def _tick(deps: Deps) -> None:
    try:
        now = utcnow()
        beat(deps, now)
        queued = run_due(deps, now)
        prune_handled(deps, now)
        drop_old_text(deps, now)
        poll_trackers(deps, now)
        fit_adapters(deps, now)
        respell(deps, now)
        refresh_crm(deps, now)
        log.info(
            "clock heartbeat: %s message(s) queued", queued, extra={"clock": clock_id(deps), "queued": queued}
        )
    except Exception:  # a database hiccup must not stop the heartbeat; the next minute catches up
        log.exception("clock run failed; trying again next minute")


def beat(deps: Deps, now: datetime) -> None:
    """Stored first, so /healthz sees the clock alive even while a long run is under way; a tick that
    never comes shows there as the heartbeat's age."""
    with session_scope(deps.engine) as session:
        health.beat(session=session, clock_id=clock_id(deps), now=now)


def _add_job(scheduler: Any, deps: Deps) -> None:
    scheduler.add_job(
        _tick,
        "interval",
        minutes=1,
        args=[deps],
        id=JOB_ID,
        next_run_time=datetime.now(UTC),  # catch up at once on start
        coalesce=True,
        max_instances=1,
        misfire_grace_time=60,
        replace_existing=True,
    )


def start_in_process(deps: Deps) -> BackgroundScheduler:
    """The clock beside Socket Mode or the shell; call .shutdown() on the result to stop it."""
    scheduler = BackgroundScheduler(timezone=UTC, daemon=True)
    _add_job(scheduler, deps)
    scheduler.start()
    return scheduler


def main(argv: list[str], settings: Any) -> int:
    """`python -m bot clock [--once]`: the scheduler process; it delivers the outbox as well."""
    from bot.app import build_deps
    from bot.logs import setup_logging

    parser = argparse.ArgumentParser(prog="python -m bot clock")
    parser.add_argument("--once", action="store_true", help="queue and send what is due now, then exit")
    args = parser.parse_args(argv)
    setup_logging()
    deps = build_deps(settings, start_worker=True, with_matcher=False, patience=PATIENT)
    if args.once:
        now = utcnow()
        beat(deps, now)
        queued = run_due(deps, now)
        if deps.worker is not None:
            deps.worker.drain()
            deps.worker.stop()
        print(f"queued {queued} scheduled message(s)")
        return 0
    scheduler = BlockingScheduler(timezone=UTC)
    _add_job(scheduler, deps)

    def stop(signum: int, _frame: Any) -> None:
        log.info("clock stopping (signal %s)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    log.info("Partnerbot clock started (%s)", clock_id(deps))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if deps.worker is not None:
            deps.worker.stop()
    return 0
