"""Modal submissions and closings."""

from slack_bolt import App


def register(app: App) -> None:
    # Imported here: the builders in this package are used by listeners elsewhere (no import cycles).
    from handlers.actions.followup import followup_answer_submission
    from handlers.views import repeat_builder
    from handlers.views.request_modal import (
        repeat_choice_submission,
        request_modal_closed,
        request_modal_submission,
    )
    from handlers.views.request_modal_builder import CALLBACK_ID

    # Answered at once ("Checking for similar requests…"); the repeat check runs after the answer.
    app.view_submission(CALLBACK_ID)(request_modal_submission)
    app.view_closed(CALLBACK_ID)(request_modal_closed)
    app.view_submission(repeat_builder.CALLBACK_ID)(repeat_choice_submission)
    app.view_closed(repeat_builder.CALLBACK_ID)(request_modal_closed)
    app.view_submission("followup_answer")(followup_answer_submission)
    from handlers.actions.agenda import agenda_add_submission

    app.view_submission("agenda_add")(agenda_add_submission)
    from handlers.views import decision_modals

    app.view_submission(decision_modals.NOT_YET)(decision_modals.not_yet_submission)
    app.view_submission(decision_modals.SHIPPED)(decision_modals.shipped_submission)
    app.view_submission(decision_modals.MERGE)(decision_modals.merge_submission)
    app.view_submission(decision_modals.SPLIT)(decision_modals.split_submission)
    from handlers.views import suggestions
    from handlers.views.request_modal_builder import AREA_ACTION, CUSTOMER_ACTION

    app.options(CUSTOMER_ACTION)(suggestions.customer_suggestions)
    app.options(AREA_ACTION)(suggestions.area_suggestions)
    app.options(decision_modals.MERGE_TARGET_ACTION)(suggestions.merge_target_suggestions)
    app.options(repeat_builder.SEARCH_ACTION)(suggestions.repeat_search_suggestions)
    from handlers.views import logged_search

    # The same search on the view that says a request is logged (for a repeat the matcher missed).
    app.options(logged_search.SEARCH_ACTION)(suggestions.repeat_search_suggestions)
    app.action(logged_search.SEARCH_ACTION)(logged_search.logged_same_as)
