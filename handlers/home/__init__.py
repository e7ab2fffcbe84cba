"""The App Home tab (one view per role), its buttons and forms, and the Messages tab."""

from slack_bolt import App


def register(app: App) -> None:
    from handlers.home import builder, listeners

    app.event("app_home_opened")(listeners.home_opened)
    app.event("message")(listeners.dm_message)
    app.action(builder.LOG_REQUEST)(listeners.log_request_button)
    app.action(builder.EDIT_FOCUS)(listeners.edit_area_button)
    app.action(builder.EDIT_RULES)(listeners.edit_area_button)
    app.action(builder.MERGE_CUSTOMERS)(listeners.merge_customers_button)
    app.action(builder.SUGGEST_RULES)(listeners.suggest_rules_button)
    app.action("oneonone_cadence")(listeners.cadence_button)
    app.action("dm_log_request")(listeners.dm_log_button)
    app.view_submission(listeners.FOCUS_FORM)(listeners.focus_submission)
    app.view_submission(listeners.RULES_FORM)(listeners.rules_submission)
    app.view_submission(listeners.SUGGEST_FORM)(listeners.suggest_rules_submission)
