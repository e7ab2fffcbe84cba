"""`python -m bot [socket|http|shell|clock|migrate]`.

With no mode: Socket Mode when SLACK_APP_TOKEN is set, HTTP when only the bot token and signing
secret are, and the local shell when no Slack tokens are configured at all.
"""

from __future__ import annotations

import argparse
import os
import sys

from bot.settings import Settings, SettingsError

MODES = ("socket", "http", "shell", "clock", "migrate")


def choose_mode(settings: Settings) -> str:
    if settings.app_token:
        return "socket"
    if settings.bot_token:
        return "http"
    return "shell"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = argv.pop(0) if argv and argv[0] in MODES else None
    try:
        settings = Settings.from_env()
        mode = mode or choose_mode(settings)
        if mode == "shell":
            from bot.shell import main as shell_main

            return shell_main(argv, settings)
        if mode == "socket":
            from bot.socket import run_socket_mode

            return run_socket_mode(settings)
        if mode == "clock":
            from bot.clock import main as clock_main

            return clock_main(argv, settings)
        if mode == "migrate":
            from storage.db import make_engine, migrate

            migrate(make_engine(settings.database_url))
            print("database is up to date")
            return 0
        parser = argparse.ArgumentParser(prog="python -m bot http")
        parser.add_argument("--workers", default=os.environ.get("WEB_CONCURRENCY", "2"))
        args = parser.parse_args(argv)
        settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
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


if __name__ == "__main__":
    raise SystemExit(main())
