"""Modal submissions and closings."""

from slack_bolt import App


def register(app: App) -> None:
    # Imported here: the builders in this package are used by listeners elsewhere (no import cycles).
    from handlers.actions.followup import followup_answer_submission
    from handlers.views.request_modal import request_modal_closed, request_modal_submission
    from handlers.views.request_modal_builder import CALLBACK_ID

    app.view_submission(CALLBACK_ID)(request_modal_submission)
    app.view_closed(CALLBACK_ID)(request_modal_closed)
    app.view_submission("followup_answer")(followup_answer_submission)
