"""Message and global shortcuts."""

from slack_bolt import App

from handlers.shortcuts.log_request import CALLBACK_ID, log_request_shortcut


def register(app: App) -> None:
    app.message_shortcut(CALLBACK_ID)(log_request_shortcut)
