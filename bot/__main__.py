"""`python -m bot [socket|http|shell|clock|migrate]`.

With no mode: Socket Mode when SLACK_APP_TOKEN is set, HTTP when the bot token and signing secret are,
and the local shell when no Slack tokens are configured at all.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys

from bot.settings import WHERE_TO_GET, Settings, SettingsError

MODES = {
    "socket": "connect to Slack over Socket Mode (the quick start: no public URL; runs the clock too)",
    "http": "serve Slack's requests over HTTP with gunicorn on $PORT (production)",
    "shell": "use the bot in this terminal against a local fake of Slack (no workspace needed)",
    "clock": "send digests and 1:1 agendas when they are due, and deliver the outbox",
    "migrate": "bring the database schema up to date, then exit",
}

USAGE = (
    "usage: python -m bot [MODE] [options]\n\nModes:\n"
    + "\n".join(f"  {mode:<8} {what}" for mode, what in MODES.items())
    + "\n\nWith no mode: socket when SLACK_APP_TOKEN is set, http when SLACK_BOT_TOKEN and\n"
    "SLACK_SIGNING_SECRET are, otherwise the shell. `python -m bot MODE --help` shows a mode's options.\n"
    "Settings come from the environment or .env (see .env.example)."
)


def choose_mode(settings: Settings) -> str:
    if settings.app_token:
        return "socket"
    if settings.oauth and settings.signing_secret:
        return "http"
    if settings.bot_token:
        if not settings.signing_secret:
            raise SettingsError(
                "SLACK_BOT_TOKEN is set, but neither SLACK_APP_TOKEN (Socket Mode, the quick start: from "
                f"{WHERE_TO_GET['SLACK_APP_TOKEN']}) nor SLACK_SIGNING_SECRET (HTTP mode: from "
                f"{WHERE_TO_GET['SLACK_SIGNING_SECRET']}) is. Set one of them."
            )
        return "http"
    return "shell"


def pick_mode(argv: list[str]) -> str | None:
    """The mode named first on the command line (removed from argv), or None; SettingsError for a typo."""
    if not argv or argv[0].startswith("-"):
        return None
    word = argv[0]
    if word in MODES:
        return argv.pop(0)
    close = difflib.get_close_matches(word.lower(), MODES, n=1, cutoff=0.5)
    hint = f" Did you mean `python -m bot {close[0]}`?" if close else ""
    raise SettingsError(f"unknown mode {word!r}.{hint} Modes: {', '.join(MODES)} (`python -m bot --help`).")


def check_database(settings: Settings) -> None:
    """Reach the database and bring its schema up to date, or SettingsError in one line saying why."""
    from storage.db import describe_failure, make_engine, migrate

    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except Exception as e:  # every way a database can be out of reach ends in one clear line
        raise SettingsError(f"DATABASE_URL: {describe_failure(engine, e)}") from None
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(USAGE)
        return 0
    try:
        mode = pick_mode(argv)
        settings = Settings.from_env()
        mode = mode or choose_mode(settings)
        if mode == "shell":
            from bot.shell import main as shell_main

            return shell_main(argv, settings)
        if mode == "socket":
            settings.require("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
            check_database(settings)
            from bot.socket import run_socket_mode

            return run_socket_mode(settings)
        if mode == "clock":
            if "-h" not in argv and "--help" not in argv:
                settings.require_bot_token()  # the clock only exists to send
                check_database(settings)
            from bot.clock import main as clock_main

            return clock_main(argv, settings)
        if mode == "migrate":
            check_database(settings)
            print("database is up to date")
            return 0
        parser = argparse.ArgumentParser(prog="python -m bot http", description=MODES["http"])
        parser.add_argument("--workers", default=os.environ.get("WEB_CONCURRENCY", "2"))
        args = parser.parse_args(argv)
        settings.require_bot_token("SLACK_SIGNING_SECRET")
        # Checked here, once, so a wrong token or an unreachable database is one clear line rather than
        # a traceback from every gunicorn worker.
        check_database(settings)
        if settings.bot_token:  # an OAuth install's tokens are checked per installation as they are used
            check_token(settings)
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:bot.gunicorn_conf",
            "--bind",
            f"0.0.0.0:{settings.port}",
            "--workers",
            str(args.workers),
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "bot.http:create_wsgi_app()",
        ]
        os.execv(sys.executable, cmd)
    except SettingsError as e:
        print(f"partnerbot: {e}", file=sys.stderr)
        return 2
    return 0


def check_token(settings: Settings) -> None:
    """Ask Slack whether it accepts the bot token (auth.test), or SettingsError naming the variable."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=10)
    try:
        client.auth_test()
    except SlackApiError as e:
        raise SettingsError(
            f"Slack did not accept SLACK_BOT_TOKEN ({e.response.get('error') or e.response.status_code}). "
            f"Copy it again from {WHERE_TO_GET['SLACK_BOT_TOKEN']}."
        ) from None
    except OSError as e:
        raise SettingsError(
            f"can't reach Slack at {settings.slack_api_url} to check SLACK_BOT_TOKEN: {e}"
        ) from None


if __name__ == "__main__":
    raise SystemExit(main())
