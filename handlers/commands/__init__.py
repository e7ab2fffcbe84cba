"""Slash commands."""

from slack_bolt import App

from handlers.commands.digest import digest_command
from handlers.commands.focus import focus_command
from handlers.commands.oneonone import agenda_command, oneonone_command
from handlers.commands.partnerbot import partnerbot_command
from handlers.commands.request import request_command
from handlers.commands.threshold import threshold_command


def register(app: App) -> None:
    app.command("/request")(request_command)
    from handlers.commands import admin_data

    # The export's upload runs after Slack has its answer (admin_data.export_later).
    app.command("/partnerbot")(partnerbot_command, admin_data.export_later)
    admin_data.register(app)
    from handlers import connect

    connect.register(app)
    app.command("/focus")(focus_command)
    app.command("/threshold")(threshold_command)
    app.command("/digest")(digest_command)
    app.command("/oneonone")(oneonone_command)
    app.command("/agenda")(agenda_command)
    from handlers.commands.requests import requests_command

    app.command("/requests")(requests_command)
