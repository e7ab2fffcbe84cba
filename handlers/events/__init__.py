"""Events API listeners."""

from slack_bolt import App


def register(app: App) -> None:
    from handlers.events.reactions import offer_to_log, reaction_added, reaction_log_button

    # Acknowledged by `reaction_added`; the offer is made after Slack has its answer.
    app.event("reaction_added")(reaction_added, offer_to_log)
    app.action("reaction_log_request")(reaction_log_button)
