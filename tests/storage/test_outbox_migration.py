"""Migration 0008_outbox_leases on a database holding a row a worker of the previous version is sending."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import text
from sqlmodel import Session, select

from storage import outbox
from storage.db import alembic_config, make_engine, migrate
from storage.models import Outbox, utcnow


def test_a_row_claimed_before_leases_keeps_its_old_two_minutes_then_is_taken_over(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007_embedding_at")
    claimed_at = utcnow() - timedelta(seconds=30)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (key, kind, method, payload, fallback_user_id, status, attempts,"
                " next_attempt_at, claimed_by, claimed_at, last_error, result_channel, result_ts, report_to,"
                " report_label, check_before_send, created_at) VALUES ('thanks:1:1', 'thanks',"
                " 'chat.postMessage', '{\"channel\": \"U1\", \"text\": \"hi\"}', '', 'sending', 1, :t,"
                " 'old-worker', :t, '', '', '', '', '', 0, :t)"
            ),
            {"t": claimed_at.replace(tzinfo=None)},
        )
    migrate(engine)
    with Session(engine) as s:
        row = s.exec(select(Outbox)).one()
        assert row.claim_token and row.dm_channel == ""
        assert row.lease_until == claimed_at + timedelta(minutes=2)
        assert outbox.claim_due(session=s, worker_id="new") == []  # the old worker may still send it
        (taken,) = outbox.claim_due(session=s, worker_id="new", now=claimed_at + timedelta(minutes=3))
        assert taken.check_before_send and taken.claimed_by == "new"
    with engine.begin() as conn:  # and back down, and up again
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007_embedding_at")
        command.upgrade(cfg, "heads")
    engine.dispose()
