"""Database engines (SQLite by default, PostgreSQL in production), sessions and migrations."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
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


@dataclass(frozen=True)
class Patience:
    """How long one database call may wait (for a lock, or for a server that went silent) before the bot
    gives up on it and says so."""

    answer_s: float  # one exchange with the server (client side), and SQLite's wait for the write lock
    statement_ms: int  # PostgreSQL's own statement_timeout: below answer_s, so a slow query ends cleanly
    lock_ms: int
    idle_in_transaction_ms: int
    pool_wait_s: float
    # After the server went silent, new connections fail at once for this long instead of each paying the
    # connect timeout: the next person hears back at once, and the worker threads stay free.
    cooldown_s: float


# Slack waits 3 s for a listener's whole answer, so each call gives up well before that and the person
# still hears, in time, that nothing was saved. The connect timeout is 2 s (the least libpq allows).
INTERACTIVE = Patience(
    answer_s=1.5,
    statement_ms=1200,
    lock_ms=1000,
    idle_in_transaction_ms=30_000,
    pool_wait_s=1.5,
    cooldown_s=2.0,
)
# The clock and the delivery worker answer nobody in real time: they may wait as long as before.
PATIENT = Patience(
    answer_s=30.0,
    statement_ms=25_000,
    lock_ms=20_000,
    idle_in_transaction_ms=300_000,
    pool_wait_s=30.0,
    cooldown_s=0.0,
)
CONNECT_TIMEOUT_S = 2


def sqlite_synchronous() -> str:
    chosen = os.environ.get("PARTNERBOT_SQLITE_SYNCHRONOUS", "").strip().upper()
    return chosen if chosen in ("OFF", "NORMAL", "FULL", "EXTRA") else "NORMAL"


def make_engine(url: str, *, patience: Patience = PATIENT, **kwargs) -> Engine:
    """`patience=INTERACTIVE` for processes that answer Slack: every call is bounded well inside 3 s."""
    url = normalize_url(url)
    kwargs.setdefault("pool_timeout", patience.pool_wait_s)
    if url.startswith("sqlite"):
        busy_ms = int(patience.answer_s * 1000)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": patience.answer_s}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            # WAL lets readers go on while the one writer writes; the busy timeout waits for the lock.
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints rather than at every commit: the file stays consistent
            # and a crashed bot loses nothing, but a power cut may undo the last commits. A commit costs
            # ~0.05 ms instead of ~4.5 ms (this machine's disk), which is what lets SQLite take 100 form
            # submissions a second (benchmark/bench_latency.py). PARTNERBOT_SQLITE_SYNCHRONOUS=FULL syncs
            # every commit.
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(
            url,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_S,
                # Keepalives and tcp_user_timeout notice a peer that vanished from the network. They cannot
                # notice a server that is up but silent (its kernel still acknowledges every byte): the
                # per-exchange bound of _bounded_connection_class does that.
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
                "tcp_user_timeout": 10_000,
            },
            **kwargs,
        )
        _bound_postgres(engine, patience)
    _clean_text_on_the_way_in(engine)
    return engine


class DatabaseStalled(Exception):
    """Marker mixed into the driver's OperationalError: the server took the request and went silent."""


@cache
def _bounded_connection_classes() -> tuple[type, type]:
    """(connection, error): built on first use, so SQLite-only processes never import psycopg."""
    import psycopg
    from psycopg import errors

    class StalledError(psycopg.OperationalError, DatabaseStalled):
        pass

    class BoundedConnection(psycopg.Connection):
        """A psycopg connection whose every exchange with the server is bounded. PostgreSQL's
        statement_timeout is kept by the server, so a server that is hung, paused or behind a dead proxy
        never enforces it: without a bound on the client, a read on its socket waits forever."""

        answer_within: float | None = None
        on_stall: Any = None

        def wait(self, gen, interval=None, timeout=None):  # noqa: ANN001 (psycopg's own signature)
            if timeout is None:
                timeout = self.answer_within
            try:
                if interval is None:
                    return super().wait(gen, timeout=timeout)
                return super().wait(gen, interval, timeout)
            except errors._WaitTimeout:
                # Abandoned mid-exchange, the connection can never be used again: closed, the pool
                # sees it as a disconnect and throws it (and the rest of the pool) away.
                self.close()
                if self.on_stall is not None:
                    self.on_stall()
                raise StalledError(f"the database did not answer within {timeout:g} s") from None

    return BoundedConnection, StalledError


class _Cooldown:
    """Remembers that the server went silent, so connecting is not retried for `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = 0.0
        self.lock = threading.Lock()

    def stalled(self) -> None:
        with self.lock:
            self.until = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.until - time.monotonic())


def _bound_postgres(engine: Engine, patience: Patience) -> None:
    cooldown = _Cooldown(patience.cooldown_s)
    server_side = (
        f"-c statement_timeout={patience.statement_ms} -c lock_timeout={patience.lock_ms} "
        f"-c idle_in_transaction_session_timeout={patience.idle_in_transaction_ms}"
    )

    @event.listens_for(engine, "do_connect")
    def _connect(dialect, conn_rec, cargs, cparams):  # noqa: ANN001
        import psycopg

        connection_class, stalled_error = _bounded_connection_classes()
        if cooldown.remaining():
            raise stalled_error(
                "the database stopped answering a moment ago; not trying it again for "
                f"{cooldown.remaining():.1f} s"
            )
        # Ours first: options the URL itself carries (…?options=-c%20…) still win.
        cparams["options"] = f"{server_side} {cparams.get('options') or ''}".strip()
        try:
            conn = connection_class.connect(*cargs, **cparams)
        except psycopg.errors.ConnectionTimeout:
            cooldown.stalled()
            raise
        conn.answer_within = patience.answer_s
        conn.on_stall = cooldown.stalled
        return conn


# NUL is refused by PostgreSQL text and lone surrogates (from JSON like "\\ud800") by both drivers' UTF-8
# encoding; SQLite would keep a NUL. Cleaned for both on the way in, the same input is stored the same way.
_REFUSED = re.compile(r"[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` as both databases can store it: NUL dropped, a lone surrogate shown as U+FFFD (a pair
    that encodes one character, as some JSON has it, becomes that character)."""
    if not _REFUSED.search(value):
        return value
    value = value.replace("\x00", "")
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _clean_parameters(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        if any(isinstance(v, str) and _REFUSED.search(v) for v in parameters.values()):
            return {k: clean_text(v) if isinstance(v, str) else v for k, v in parameters.items()}
        return parameters
    if isinstance(parameters, tuple | list):
        if any(isinstance(p, dict | tuple | list) for p in parameters):  # executemany: one set per row
            return type(parameters)(_clean_parameters(p) for p in parameters)
        if any(isinstance(v, str) and _REFUSED.search(v) for v in parameters):
            return type(parameters)(clean_text(v) if isinstance(v, str) else v for v in parameters)
    return parameters


def _clean_text_on_the_way_in(engine: Engine) -> None:
    """Every value bound to a statement passes here, whichever table, query or bulk insert it is for."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _clean(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        return statement, _clean_parameters(parameters)


def database_unavailable(error: BaseException | None) -> bool:
    """True when `error` (or what it came from) means the database could not be reached or did not
    answer in time, rather than a fault in the bot: the person can be told to try again later."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DatabaseStalled | sa_exc.TimeoutError):  # silent server; pool exhausted
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        psycopg = sys.modules.get("psycopg")  # only ever raised when loaded
        # Connection failures, timeouts (statement, lock, idle), cancelled queries, a server shutting down
        # or out of connections: all OperationalError in psycopg.
        if psycopg is not None and isinstance(error, psycopg.OperationalError):
            return True
        if isinstance(error, sqlite3.OperationalError):
            message = str(error).lower()
            if any(w in message for w in ("locked", "busy", "disk i/o", "unable to open")):
                return True
        error = error.__cause__ or error.__context__
    return False


def probe(engine: Engine, *, lock_wait_s: float = 0.5) -> None:
    """Raise unless the database answers and would take a write now. SQLite readers go on while another
    process holds the write lock, so a plain SELECT would call a database that can store nothing healthy."""
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            conn.execute(text("SELECT 1"))
            return
        raw = conn.connection.dbapi_connection
        (usual,) = raw.execute("PRAGMA busy_timeout").fetchone()
        raw.execute(f"PRAGMA busy_timeout={int(lock_wait_s * 1000)}")
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
        finally:
            raw.execute(f"PRAGMA busy_timeout={int(usual)}")


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
    """Several processes starting on one SQLite file take turns migrating. The lock is a flock on the
    database file itself (SQLite's own locks are fcntl locks, which flock does not touch), so no lock file
    is left beside it."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(database, "ab") as lock:
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
    with engine.begin() as conn, _unhurried(conn):
        if conn.dialect.name == "postgresql":
            # Web, clock and worker may start together: one migrates, the others wait then find it done.
            conn.execute(text("SELECT pg_advisory_xact_lock(7241)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


@contextmanager
def _unhurried(conn: Any) -> Iterator[None]:
    """No time limits inside this transaction: a migration may rewrite a big table, or wait for another
    process's migration to finish."""
    if conn.dialect.name != "postgresql":
        yield
        return
    for setting in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
        conn.execute(text(f"SET LOCAL {setting} = 0"))
    raw = conn.connection.dbapi_connection
    bound = getattr(raw, "answer_within", None)
    raw.answer_within = None
    try:
        yield
    finally:
        raw.answer_within = bound


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


def describe_failure(engine: Engine, error: BaseException) -> str:
    """One line a person can act on for a database that could not be reached or opened: where (never the
    password) and the driver's own first line of why."""
    where = engine.url.render_as_string(hide_password=True)
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    why = reason[0] if reason else type(error).__name__
    if engine.dialect.name == "sqlite":
        return f"can't open the SQLite database {engine.url.database!r}: {why}"
    return f"can't use the database at {where}: {why}"


_WRITERS: dict[str, tuple[threading.Lock, int]] = {}
_WRITERS_LOCK = threading.Lock()


@contextmanager
def one_writer(session: Session) -> Iterator[None]:
    """On SQLite, a short write transaction (what runs inside, up to its commit) waits its turn on a lock
    of its own beside the database file, a thread lock within the process and an ``flock`` across
    processes, instead of in SQLite's busy handler. That handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between
    tries, so under a burst a writer sleeps on long after the lock was free; a waiter on ``flock`` is
    woken the moment it is. Nothing on PostgreSQL, whose row locks queue by themselves."""
    bind = session.get_bind()
    path = bind.url.database if bind.dialect.name == "sqlite" else None
    # A session that has written already holds SQLite's own write lock: waiting here for a writer that
    # waits for that lock would stall both until the busy timeout.
    if not path or path == ":memory:" or session.connection().connection.dbapi_connection.in_transaction:
        yield
        return
    with _WRITERS_LOCK:
        found = _WRITERS.get(path)
        if found is None:
            fd = os.open(f"{path}.writer", os.O_RDWR | os.O_CREAT, 0o600)
            found = _WRITERS[path] = (threading.Lock(), fd)
    lock, fd = found
    with lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
