"""Events API listeners."""

from slack_bolt import App


def register(app: App) -> None:
    from handlers.events.reactions import reaction_added, reaction_log_button

    app.event("reaction_added")(reaction_added)
    app.action("reaction_log_request")(reaction_log_button)
