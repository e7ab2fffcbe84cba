"""Buttons and other interactive elements."""

import re

from slack_bolt import App

from handlers.actions.followup import followup_answer_button, followup_button
from handlers.actions.thresholds import reset_threshold_button


def register(app: App) -> None:
    app.action(re.compile(r"^followup_(frequency|impact)_\w+$"))(followup_button)
    app.action(re.compile(r"^followup_answer_\w+$"))(followup_answer_button)
    app.action("req_reset_threshold")(reset_threshold_button)
    from handlers.actions.decisions import request_decision_button

    app.action(re.compile(r"^req_(planned|not_yet|shipped|merge|split|reopen)$"))(request_decision_button)
    from handlers.actions.agenda import agenda_add_button, agenda_done_button

    app.action("agenda_done")(agenda_done_button)
    app.action("agenda_add")(agenda_add_button)
    from handlers.views.request_modal import REOPEN_ACTION, reopen_request_button

    app.action(REOPEN_ACTION)(reopen_request_button)
    from handlers import issues

    issues.register(app)
