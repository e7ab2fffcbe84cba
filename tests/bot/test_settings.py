import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import choose_mode
from bot.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_sqlite_and_slack():
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///partnerbot.db"
    assert s.slack_api_url == "https://slack.com/api/"
    assert choose_mode(s) == "shell"


def test_mode_follows_tokens():
    assert (
        choose_mode(Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})) == "socket"
    )
    assert (
        choose_mode(Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})) == "http"
    )
    # A bot token alone is half of either set-up: both ways to finish it are named.
    with pytest.raises(SettingsError) as e:
        choose_mode(Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}))
    assert "SLACK_APP_TOKEN (Socket Mode" in str(e.value) and "SLACK_SIGNING_SECRET (HTTP mode" in str(
        e.value
    )


def test_api_url_and_admins_are_read():
    s = Settings.from_env({"SLACK_API_URL": "http://127.0.0.1:9/api", "PARTNERBOT_ADMINS": "U1, U2,"})
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    assert s.admin_user_ids == ("U1", "U2")


def test_missing_settings_name_the_variable_and_where_to_get_it():
    with pytest.raises(SettingsError) as e:
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}).require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    assert "SLACK_SIGNING_SECRET" in str(e.value) and "Basic Information" in str(e.value)
    assert "SLACK_BOT_TOKEN:" not in str(e.value)


def test_a_token_in_the_wrong_variable_is_named():
    swapped = Settings.from_env({"SLACK_BOT_TOKEN": "xapp-1-A", "SLACK_APP_TOKEN": "xoxb-2"})
    with pytest.raises(SettingsError) as e:
        swapped.require("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    assert "SLACK_BOT_TOKEN should start with xoxb-" in str(e.value)
    assert "SLACK_APP_TOKEN should start with xapp-" in str(e.value)


def test_a_token_slack_refuses_is_named(fake_slack, sqlite_url):
    from bot.app import build_deps, create_app
    from tests.conftest import test_settings

    fake_slack.failure_rules.append(
        lambda method, args: (
            (200, {}, {"ok": False, "error": "invalid_auth"}) if method == "auth.test" else None
        )
    )
    settings = test_settings(fake_slack, sqlite_url)
    with pytest.raises(SettingsError, match="Slack did not accept SLACK_BOT_TOKEN"):
        create_app(settings, build_deps(settings, start_worker=False))


def test_bad_numbers_fail_fast():
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})


def test_http_mode_without_tokens_exits_with_a_clear_message(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "http"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr


def test_database_url_may_be_a_file_path_and_a_wrong_one_is_named(tmp_path):
    s = Settings.from_env({"DATABASE_URL": str(tmp_path / "pb.db")})
    assert s.database_url == f"sqlite:///{tmp_path / 'pb.db'}"
    assert Settings.from_env({"DATABASE_URL": "postgres://u:p@h:5432/db"}).database_url.startswith(
        "postgresql+psycopg://"
    )
    for wrong in ("mysql://admin:hunter2@db/pb", "postgresql://u:hunter2@h:notaport/db", "nonsense://x"):
        with pytest.raises(SettingsError) as e:
            Settings.from_env({"DATABASE_URL": wrong})
        assert str(e.value).startswith("DATABASE_URL:") and "SQLite file" in str(e.value), wrong
        assert "hunter2" not in str(e.value)


def test_shell_takes_a_file_path_for_db_and_explains_a_bad_one(tmp_path):
    def shell(*args: str, typed: str = "") -> subprocess.CompletedProcess:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PARTNERBOT_EMBEDDINGS": "0",
            "PYTHONPATH": str(ROOT),
        }
        return subprocess.run(
            [sys.executable, "-m", "bot", "shell", *args],
            input=typed,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )

    ok = shell("--as", "sam", "--db", "here.db", typed="/request help\n")
    assert ok.returncode == 0, ok.stderr
    assert "/request" in ok.stdout and (tmp_path / "here.db").exists()
    bad = shell("--db", "mysql://root:hunter2@localhost/pb")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--db 'mysql://…' isn't a database this bot can use" in bad.stderr and "hunter2" not in bad.stderr


def test_the_date_shift_moves_the_wall_clock_of_every_process_it_starts():
    """`make test-future` moves the date a year ahead in the suite and in the servers it starts."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = "import datetime; print(datetime.datetime.now(datetime.UTC).year)"
    env = {"PARTNERBOT_TEST_SHIFT_DAYS": "365", "PYTHONPATH": str(root / "tests" / "timeshift")}
    shifted = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    plain = subprocess.run([sys.executable, "-c", code], env={}, capture_output=True, text=True, check=True)
    assert int(shifted.stdout) in (int(plain.stdout) + 1, int(plain.stdout) + 2)
