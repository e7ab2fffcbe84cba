"""Slack listeners, grouped by the kind of payload they handle."""

from slack_bolt import App

from handlers import actions, commands, events, shortcuts, views


def register_listeners(app: App) -> None:
    commands.register(app)
    shortcuts.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)
