"""`python -m bot` as a newcomer meets it: every mode listed, typos answered, and every missing or wrong
setting (tokens, an unreachable database) named in one line with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_clean_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 3 and lines[0].startswith("partnerbot: "), result.stderr
    return result.stderr


def test_help_lists_every_mode(tmp_path):
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for mode in ("socket", "http", "shell", "clock", "migrate"):
        assert f"  {mode} " in result.stdout


def test_a_mistyped_mode_suggests_the_right_one(tmp_path):
    said = one_clean_line(run(tmp_path, "sokcet"))
    assert "unknown mode 'sokcet'" in said and "python -m bot socket" in said


def test_a_bot_token_alone_names_both_ways_to_finish(tmp_path):
    said = one_clean_line(run(tmp_path, SLACK_BOT_TOKEN="xoxb-1"))
    assert "SLACK_APP_TOKEN" in said and "SLACK_SIGNING_SECRET" in said


def test_the_clock_refuses_to_start_without_a_token(tmp_path):
    assert "SLACK_BOT_TOKEN" in one_clean_line(run(tmp_path, "clock"))


@pytest.mark.parametrize(
    "url, says",
    [
        (
            "postgresql://postgres@127.0.0.1:5432/partnerbot_no_such_db",
            'database "partnerbot_no_such_db" does not exist',
        ),
        ("postgresql://postgres:hunter2@127.0.0.1:1/x", "Connection refused"),
        ("/no/such/folder/pb.db", "can't open the SQLite database"),
    ],
)
def test_an_unreachable_database_is_one_line_without_the_password(tmp_path, url, says):
    said = one_clean_line(run(tmp_path, "migrate", DATABASE_URL=url))
    assert "DATABASE_URL" in said and says in said and "hunter2" not in said


def test_http_mode_with_a_token_slack_refuses_is_one_line(tmp_path):
    fake = FakeSlack().start()
    fake.failure_rules.append(
        lambda method, args: (
            (200, {}, {"ok": False, "error": "invalid_auth"}) if method == "auth.test" else None
        )
    )
    try:
        result = run(
            tmp_path,
            "http",
            SLACK_BOT_TOKEN="xoxb-refused",
            SLACK_SIGNING_SECRET="s",
            SLACK_API_URL=fake.api_url,
            DATABASE_URL=str(tmp_path / "pb.db"),
        )
    finally:
        fake.stop()
    said = one_clean_line(result)
    assert "Slack did not accept SLACK_BOT_TOKEN (invalid_auth)" in said and "OAuth & Permissions" in said


def test_migrating_a_sqlite_file_leaves_no_lock_file_beside_it(tmp_path):
    result = run(tmp_path, "migrate", DATABASE_URL=str(tmp_path / "pb.db"))
    assert result.returncode == 0 and "up to date" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pb.db")) in (
        ["pb.db"],
        ["pb.db", "pb.db-shm", "pb.db-wal"],
    )
