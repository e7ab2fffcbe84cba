"""End-to-end: the HTTP mode as a real gunicorn process, a fake Slack Web API, signed payloads."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.driver import HttpDriver
from bot.fake_slack import FakeSlack
from storage.db import make_engine
from tests.conftest import SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[2]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed end-to-end test shows the tail of its server's log (what the app logged while the test
    ran), so a failure seen only in CI can be read from CI's output."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        log = getattr(value, "log", None)
        if isinstance(log, Path) and log.exists():
            report.sections.append((f"server log of {name} (last 60 lines)", _tail(log, 60)))


def _tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    database_url: str,
    fake: FakeSlack,
    log_path: Path,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """The server on a free port. Tests run in parallel (pytest-xdist), so another test's server may take
    the port between free_port() and gunicorn's bind: then it starts again on another one."""
    for _ in range(3):
        start = log_path.stat().st_size if log_path.exists() else 0
        try:
            return _start_server(database_url, fake, log_path, workers, extra_env)
        except RuntimeError:
            if b"Connection in use" not in log_path.read_bytes()[start:]:
                raise
    raise RuntimeError(f"no free port for the server:\n{log_path.read_text()[-3000:]}")


def _start_server(
    database_url: str,
    fake: FakeSlack,
    log_path: Path,
    workers: int,
    extra_env: dict[str, str] | None,
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-e2e",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "FOLLOWUP_DELAY_MINUTES": "0",
            "PARTNERBOT_EMBEDDINGS": "0",
            "PYTHONUNBUFFERED": "1",
            "WEB_CONCURRENCY": str(workers),
        }
    )
    env.update(extra_env or {})
    log = open(log_path, "ab")  # noqa: SIM115 (handed to the server process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "http", "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not come up:\n{log_path.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(params=["sqlite"])
def server(request, tmp_path, fake_slack, migrated_sqlite) -> Iterator[SimpleNamespace]:
    """`python -m bot http` (gunicorn) on a free port against the fake Slack."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_server_url")
        request.getfixturevalue("pg_engine")  # emptied tables
    else:
        url = migrated_sqlite(tmp_path / "e2e.db")
    log_path = tmp_path / "server.log"
    proc, base = start_server(url, fake_slack, log_path)
    engine = make_engine(url)
    try:
        yield SimpleNamespace(
            base=base,
            fake=fake_slack,
            engine=engine,
            log=log_path,
            driver=HttpDriver(base, fake_slack, SIGNING_SECRET),
            url=url,
        )
    finally:
        stop_server(proc)
        engine.dispose()
