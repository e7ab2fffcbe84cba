"""Database engines (SQLite by default, PostgreSQL in production), sessions and migrations."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalize_url(url: str) -> str:
    """Accept Heroku's `postgres://` and plain `postgresql://` (both use the psycopg 3 driver), and a
    plain file path for a SQLite file (`partnerbot.db`, `/data/pb.db`)."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url and "://" not in url and not url.startswith("sqlite:"):
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def check_url(url: str) -> str:
    """The normalised URL, or ValueError saying what is wrong with it (no password is echoed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    normalized = normalize_url(url)
    try:
        parsed = make_url(normalized)
        parsed.get_dialect()
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(parsed.get_backend_name())
    except (ArgumentError, NoSuchModuleError, ValueError):
        shown = normalized.split("://", 1)[0] + "://…" if "://" in normalized else normalized
        raise ValueError(
            f"{shown!r} isn't a database this bot can use; give a SQLite file (partnerbot.db, "
            "sqlite:///path/to/file.db) or PostgreSQL (postgresql://user:password@host:5432/dbname)"
        ) from None
    return normalized


def make_engine(url: str, **kwargs) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            # WAL lets readers go on while the one writer writes; the busy timeout waits for the lock.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Several processes starting on one SQLite file take turns migrating (a file lock beside it)."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def migrate(engine: Engine) -> None:
    """Bring the schema up to date; safe to run from several processes at once."""
    cfg = alembic_config(engine)
    if engine.dialect.name == "sqlite":
        with _sqlite_migration_lock(engine), engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Web, clock and worker may start together: one migrates, the others wait then find it done.
            conn.execute(text("SELECT pg_advisory_xact_lock(7241)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One session per unit of work: commits on success, rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
