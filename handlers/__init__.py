"""Slack listeners, grouped by the kind of payload they handle."""

from slack_bolt import App

from handlers import actions, commands, events, home, lifecycle, shortcuts, views
from handlers.once import Registrar


def register_listeners(app: App) -> None:
    # Every listener acts once per payload, however often Slack or the person sends it (handlers/once.py).
    registrar = Registrar(app)
    commands.register(registrar)
    shortcuts.register(registrar)
    actions.register(registrar)
    views.register(registrar)
    events.register(registrar)
    home.register(registrar)
    lifecycle.register(registrar)
