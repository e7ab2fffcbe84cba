"""Shared fixtures: a fake Slack Web API, databases (SQLite file and the local PostgreSQL), the app."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from bot.app import build_deps, create_app
from bot.driver import Driver
from bot.fake_slack import TEAM_ID, FakeSlack
from bot.settings import Settings
from storage.db import make_engine, migrate
from storage.models import set_clock, utcnow

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SIGNING_SECRET = "test-signing-secret"


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (CI must start it)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"partnerbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A test database need not survive a crash: commits don't wait for the disk. With one process per
        # core (pytest-xdist), a commit waiting on a busy disk once went past the bot's 1.5 s bound on a
        # database exchange (storage/db.py INTERACTIVE), and the test saw "database unavailable".
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(SQLModel.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(scope="session")
def _pg_engine(pg_server_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_server_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """One SQLite file migrated to the head, once per test session (per xdist worker): each test gets a
    copy instead of running every migration again (most of a small test's time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    eng = make_engine(f"sqlite:///{path}")
    migrate(eng)
    eng.dispose()
    return path


@pytest.fixture
def migrated_sqlite(_sqlite_template: Path):
    """`migrated_sqlite(path)` puts a copy of the migrated template at path and returns its URL. The bot
    still runs `migrate` on it as always (it finds nothing to do)."""

    def make(path: Path) -> str:
        src, dst = sqlite3.connect(_sqlite_template), sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return f"sqlite:///{path}"

    return make


@pytest.fixture
def sqlite_url(tmp_path, migrated_sqlite) -> str:
    """A SQLite file already at the head of the migrations."""
    return migrated_sqlite(tmp_path / "partnerbot.db")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path) -> Iterator[Engine]:
    """Each storage test runs on both databases."""
    if request.param == "sqlite":
        eng = make_engine(request.getfixturevalue("migrated_sqlite")(tmp_path / "storage.db"))
        migrate(eng)  # nothing to do: the copy is at the head
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("_pg_engine")
        _empty_tables(eng)
        yield eng


@pytest.fixture
def pg_engine(_pg_engine: Engine) -> Engine:
    _empty_tables(_pg_engine)
    return _pg_engine


class TestClock:
    """The app's clock (storage.models.utcnow) pinned to a test's own date."""

    def set(self, at: datetime) -> datetime:
        return set_clock(at)

    def now(self) -> datetime:
        return utcnow()


@pytest.fixture(autouse=True)
def _real_clock_after_each_test() -> Iterator[None]:
    """A test that pins the clock never leaks its date into the next one."""
    yield
    set_clock(None)


@pytest.fixture
def clock() -> TestClock:
    """Pin `utcnow()` with `clock.set(when)` before creating anything, so every row the test makes
    (people, requests, claims) carries the test's date rather than today's."""
    return TestClock()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_settings(fake: FakeSlack, database_url: str, **overrides) -> Settings:
    values = dict(
        bot_token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        database_url=database_url,
        slack_api_url=fake.api_url,
        followup_delay_minutes=0.0,
        delivery_worker=False,
        prefer_embeddings=False,
    )
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # a helper, not a test


@pytest.fixture
def bolt(fake_slack: FakeSlack, sqlite_url: str):
    """The real Bolt app on a SQLite file, with deliveries drained by hand (deterministic)."""
    settings = test_settings(fake_slack, sqlite_url)
    deps = build_deps(settings, start_worker=False)
    app = create_app(settings, deps, process_before_response=True)
    driver = Driver(app, fake_slack, SIGNING_SECRET)
    yield SimpleNamespace(
        app=app, deps=deps, fake=fake_slack, team_id=TEAM_ID, settings=settings, driver=driver
    )
    deps.engine.dispose()
