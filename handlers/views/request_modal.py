"""The request form's submission (and its closing without submitting)."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot.oauth import acting_as
from handlers.blocks import button, section
from handlers.blocks import context as context_block
from handlers.common import actor, deps_of, sees_other_requests, workspace_of
from handlers.crm_pick import confirm_pick
from handlers.logging_flow import answers_from_json, answers_to_json, finish_logging, log_and_reply
from handlers.text import quote
from handlers.values import ForgedValue, read_id
from handlers.views.logged_search import NOT_OFFERED, logged_view, searched_request
from handlers.views.repeat_builder import FORGED, NEW, SEARCH_BLOCK, read_choice, read_search, read_shown
from handlers.views.request_modal_builder import (
    CRM_FORGED,
    CUSTOMER_LIMIT,
    CUSTOMER_OPTION_LIMIT,
    CUSTOMER_TOO_LONG,
    Answers,
    answers_as_values,
    draft_id_of,
    read_answers,
    request_modal,
)
from storage import people
from storage import requests as store
from storage.db import session_scope
from storage.matching import record_answer
from storage.models import Draft, Person, ProductArea, Workspace
from storage.money import AmountError, parse_amount
from storage.requests import FREQUENCIES, IMPACTS


def request_modal_submission(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    view = body.get("view") or {}
    answers = read_answers(view)
    errors = {}
    if not answers.text:
        errors["request"] = "Please say what the customer needs."
    if answers.customer == CRM_FORGED:
        errors["customer"] = "That choice came back in a shape I never write; pick the customer again."
    elif answers.customer == CUSTOMER_TOO_LONG:
        errors["customer"] = (
            f"Customer names are kept to {CUSTOMER_OPTION_LIMIT} characters; type a shorter one "
            "(details fit in the root problem or impact)."
        )
    elif len(answers.customer) > CUSTOMER_LIMIT:
        errors["customer"] = (
            f"Please keep the customer's name under {CUSTOMER_LIMIT} characters (this has "
            f"{len(answers.customer):,}); details fit in the root problem or impact."
        )
    try:
        money = parse_amount(answers.amount_text)
    except AmountError as e:
        errors["amount"], money = str(e), None
    if errors:
        # The form stays open with everything typed; only the bad field is marked.
        ack(response_action="errors", errors=errors)
        return
    deps = deps_of(context)
    if answers.crm_ref:
        # The picked CRM account is checked with the workspace's own CRM (the option value is untrusted),
        # outside any transaction: the CRM may take up to integrations.http.timeout().
        with session_scope(deps.engine) as session:
            workspace_id = workspace_of(session, context).id
        checked = confirm_pick(deps.engine, workspace_id, answers, money)
        if checked.error:
            ack(response_action="errors", errors={"customer": checked.error})
            return
        money = checked.money
    checking = False
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        draft = _draft(session, view, workspace, person)
        area = _chosen_area(session, workspace, answers.area_id)
        if area is None:
            # The form asks for an area when there are several; a client that skips it is told the same.
            field = "area" if "area" in ((view.get("state") or {}).get("values") or {}) else "request"
            ack(response_action="errors", errors={field: "Pick the product area this is for."})
            return
        if draft is not None and draft.occurrence_id:
            ack()  # the form of a request logged already (submitted again from another copy of it)
            return
        if deps.matcher is not None and draft is not None and sees_other_requests(deps, person):
            # The repeat check runs after Slack has its answer (check_repeats): what was typed is kept
            # with the draft first, so nothing is lost whatever happens after.
            draft.answers = answers_to_json(answers, money)
            session.add(draft)
            context[CHECKING] = draft.id
            response = {"response_action": "update", "view": checking_view(answers.text)}
            checking = True
        else:
            response = finish_logging(
                session=session,
                deps=deps,
                workspace=workspace,
                person=person,
                draft=draft,
                answers=answers,
                money=money,
                area=area,
            )
    ack(**response) if response else ack()
    deps.kick()
    if checking:
        # Handed straight to the app's after-the-answer executor (where Bolt runs lazy listeners) rather
        # than registered as one: Bolt would copy and re-parse the whole form's payload for it first, on
        # the answer's own time. This listener only runs for the payload's first delivery (handlers/
        # once.py), and the answer is decided, so the check starts once per submission.
        token = context.bot_token or ""

        def after_answer() -> None:
            with acting_as(token):
                try:
                    check_repeats(body, client, context, logger)
                except Exception:  # an executor's future would keep it to itself
                    logger.exception("the repeat check after a form's answer failed")

        deps.background.submit(after_answer)


# Set in the context by the form's ack when the repeat check is left to `check_repeats` (the draft's id).
CHECKING = "partnerbot_check_repeats"
# The views shown while checking and once logged (bot/driver.py follows a submission by them).
CHECKING_CALLBACK = "request_checking"


def checking_view(text: str) -> dict[str, Any]:
    """What the requester sees for the moment between Slack's answer and the repeat check's."""
    return {
        "type": "modal",
        "callback_id": CHECKING_CALLBACK,
        "title": {"type": "plain_text", "text": "Log a request"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [
            section(":hourglass_flowing_sand: Checking for similar requests…"),
            context_block(f"What you typed is saved: {quote(text, 300)}"),
        ],
    }


def check_repeats(body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger) -> None:
    """After Slack has the form's answer ("Checking…"): look for likely repeats, then replace that view
    with the "Same thing?" step, or log the request and show that it is logged.

    Runs once per submission (the claim of its ack function, handlers/once.py) and only for a draft not
    logged yet. The view is replaced by its id alone: the hash in the payload belongs to the version the
    answer replaced. When Slack won't take the update (the requester closed the view meanwhile), a
    request waiting on "Same thing?" is handed back by DM with a button to open the form again; a logged
    one has its receipt on the way already."""
    draft_id = context.get(CHECKING)
    view_id = str((body.get("view") or {}).get("id") or "")
    if not draft_id:
        return
    deps = deps_of(context)
    answers, step = read_answers(body.get("view") or {}), None
    text = answers.text
    try:
        with session_scope(deps.engine) as session:
            workspace, person = actor(session, deps, context)
            draft = store.get_draft(session=session, draft_id=draft_id, workspace_id=workspace.id)
            if draft is None or draft.person_id != person.id or draft.occurrence_id or not draft.answers:
                return
            answers, money = answers_from_json(draft.answers)
            text = answers.text
            areas = people.list_areas(session=session, workspace_id=workspace.id)
            area = _chosen_area(session, workspace, answers.area_id, areas)
            if area is None:  # removed since the ack checked it
                area = people.default_area(session=session, workspace_id=workspace.id)
            response = finish_logging(
                areas=areas,
                session=session,
                deps=deps,
                workspace=workspace,
                person=person,
                draft=draft,
                answers=answers,
                money=money,
                area=area,
            )
            step = (
                response["view"]
                if response
                else logged_view(
                    title=text,
                    area=area.name,
                    # The search for a request the matcher missed, for those who see other requests,
                    # once there is another request to find.
                    draft_id=draft.id
                    if sees_other_requests(deps, person)
                    and store.has_other_requests(session=session, workspace_id=workspace.id)
                    else None,
                )
            )
            user = person.slack_user_id
    except Exception:
        logger.exception("the repeat check after a form's answer failed")
        step = None
        user = str((body.get("user") or {}).get("id") or "")
        response = {}
    finally:
        deps.kick()
    if step is not None:
        try:
            client.views_update(view_id=view_id, view=step)
            return
        except Exception as e:  # Slack refused it (the view was closed), or could not be reached
            error = e.response.get("error") if isinstance(e, SlackApiError) else type(e).__name__
            logger.warning("could not show the next step of the form: %s", error)
            if not response:
                return  # logged: the receipt is on its way by DM
    else:
        _tell_failed(client, view_id, logger)
    if user:
        dm_typed(
            client,
            user=user,
            intro="I couldn't show you the next step of the request form, so it isn't logged yet. "
            "Here is what you typed, so it isn't lost:",
            text=text,
            answers=answers,
            draft_id=draft_id,
        )


def _tell_failed(client: WebClient, view_id: str, logger: Logger) -> None:
    try:
        client.views_update(
            view_id=view_id,
            view={
                "type": "modal",
                "callback_id": "request_failed",
                "title": {"type": "plain_text", "text": "Log a request"},
                "close": {"type": "plain_text", "text": "Close"},
                "blocks": [
                    section(
                        "Sorry — something went wrong on my side while checking for similar requests, "
                        "so it isn't logged yet. I've sent you what you typed by DM, with a button to "
                        "open the form again."
                    )
                ],
            },
        )
    except Exception:
        logger.warning("could not tell the requester that the check failed", exc_info=True)


def request_modal_closed(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    """Closing the form does not lose what was typed: the requester gets it back by DM."""
    ack()
    view = body.get("view") or {}
    answers = read_answers(view)
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        draft = _draft(session, view, workspace, person)
        if not answers.text and draft is not None and draft.answers:
            answers, _ = answers_from_json(draft.answers)
        text = answers.text or (draft.text if draft else "")
        if not text.strip() or (draft is not None and draft.occurrence_id):
            return
        if draft is not None:
            # Kept with the draft, so "Open the form again" brings every answer back.
            answers.text = text
            draft.answers = answers_to_json(answers, None)
            session.add(draft)
        draft_id = draft.id if draft is not None else None
    dm_typed(
        client,
        user=person.slack_user_id,
        intro="You closed the request form without logging it. Here is what you typed, so it isn't lost:",
        text=text,
        answers=answers,
        draft_id=draft_id,
    )


def dm_typed(
    client: WebClient, *, user: str, intro: str, text: str, answers: Answers, draft_id: int | None
) -> None:
    """DM the requester what they typed in a form that was not logged, with a button to open it again."""
    message = f"{intro}\n> {quote(text, 2500)}\n{typed_answers(answers)}"
    blocks = [section(message)]
    if draft_id is not None:
        blocks.append(
            {
                "type": "actions",
                "block_id": "reopen_request",
                "elements": [button("Open the form again", REOPEN_ACTION, str(draft_id), "primary")],
            }
        )
    client.chat_postMessage(
        channel=user,
        text=message + "Use `/request` to log it when you're ready.",
        blocks=blocks + [context_block("Or use `/request` to start over when you're ready.")],
    )


REOPEN_ACTION = "reopen_request"


def reopen_request_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """The DM after a closed form: open it again with every answer as it was."""
    ack()
    deps = deps_of(context)
    value = str(action.get("value") or "")
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        draft = store.get_draft(
            session=session,
            draft_id=read_id(value, "“Open the form again” button"),
            workspace_id=workspace.id,
        )
        if draft is None or draft.person_id != person.id or not draft.answers:
            told = "I can't reopen that form; use `/request` to log it."
        elif draft.occurrence_id:
            told = "That one is logged already; `/requests mine` shows where it stands."
        else:
            told = ""
        if told:
            client.chat_postEphemeral(channel=person.slack_user_id, user=person.slack_user_id, text=told)
            return
        answers, _ = answers_from_json(draft.answers)
        areas = people.list_areas(session=session, workspace_id=workspace.id) or [
            people.default_area(session=session, workspace_id=workspace.id)
        ]
        chosen = answers.area_id if any(a.id == answers.area_id for a in areas) else None
        view = request_modal(
            text=answers.text,
            draft_id=draft.id,
            areas=areas,
            default_area_id=chosen or (areas[0].id if len(areas) == 1 else None),
            full_length=len(draft.text),
            permalink=draft.permalink,
            values=answers_as_values(answers),
        )
    client.views_open(trigger_id=body.get("trigger_id", ""), view=view)


def typed_answers(answers: Answers) -> str:
    """The other answers of a closed form, one line each, so retyping them is copy and paste."""
    lines = [
        ("Customer", answers.customer),
        ("Money", answers.amount_text),
        (
            "How often",
            " — ".join(filter(None, [FREQUENCIES.get(answers.frequency, ""), answers.frequency_detail])),
        ),
        ("Root problem", answers.root_problem),
        (
            "Impact",
            " — ".join(
                filter(None, [", ".join(IMPACTS.get(i, i) for i in answers.impacts), answers.impact_detail])
            ),
        ),
        ("Tie to the focus", answers.focus_tie),
    ]
    return "".join(f"*{label}:* {quote(value, 600)}\n" for label, value in lines if value)


def repeat_choice_submission(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    """The requester said "same as X" (a suggestion, or a request found with the search) or "it's new":
    store the occurrence accordingly. A request picked in the search wins over the radio buttons."""
    view = body.get("view") or {}
    searched = read_search(view)
    if searched == FORGED:
        ack(response_action="errors", errors={SEARCH_BLOCK: NOT_OFFERED})
        return
    choice = searched if searched is not None else read_choice(view)
    if choice is None:
        ack(
            response_action="errors",
            errors={"choice": "Pick the matching request or “It's new” — or search for it below."},
        )
        return
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        draft = _draft(session, view, workspace, person)
        if draft is None or not draft.answers:
            ack(
                response_action="errors", errors={"choice": "I lost track of this form; please log it again."}
            )
            return
        if draft.occurrence_id:
            ack()  # submitted twice (a double click): it is stored already
            return
        answers, money = answers_from_json(draft.answers)
        request = None
        if searched is not None:
            request, problem = searched_request(
                session, workspace, searched, then="pick another, or “It's new”."
            )
            if problem:
                ack(response_action="errors", errors={SEARCH_BLOCK: problem})
                return
        elif choice != NEW:
            request = store.get_request(session=session, request_id=choice, workspace_id=workspace.id)
            while request is not None and request.status == "merged" and request.merged_into_id:
                request = store.get_request(
                    session=session, request_id=request.merged_into_id, workspace_id=workspace.id
                )
            if request is None:
                ack(
                    response_action="errors",
                    errors={"choice": "That request is gone; pick another or “It's new”."},
                )
                return
        if request is not None:
            area = session.get(ProductArea, request.area_id)
        else:
            area = _chosen_area(session, workspace, answers.area_id)
        if area is None:  # the area picked in the form was removed meanwhile
            ack(
                response_action="errors",
                errors={"choice": "The product area you picked is gone; log it again."},
            )
            return
        # What the requester answered teaches the matcher (storage.matching.record_answer).
        shown = read_shown(view)
        stored = record_answer(
            session,
            workspace_id=workspace.id,
            draft_id=draft.id,
            text=answers.text,
            same_as=request.id if request is not None else None,
            shown=shown,
        )
        log_and_reply(
            session=session,
            deps=deps,
            workspace=workspace,
            person=person,
            draft=draft,
            answers=answers,
            money=money,
            area=area,
            request=request,
        )
        if request is None and stored and deps.matcher is not None:
            deps.matcher.refused(workspace_id=workspace.id, request_ids=stored, text=answers.text)
    ack()
    deps.kick()


def _draft(session: Session, view: dict[str, Any], workspace: Workspace, person: Person) -> Draft | None:
    """The draft saved when the form opened (what was typed, where it came from): only ever the
    submitter's own. Another person's draft id in the metadata is a forged form."""
    draft = store.get_draft(session=session, draft_id=draft_id_of(view), workspace_id=workspace.id)
    if draft is not None and draft.person_id != person.id:
        raise ForgedValue("request form")
    return draft


def _chosen_area(
    session: Session, workspace: Workspace, area_id: int | None, areas: list[ProductArea] | None = None
) -> ProductArea | None:
    """The area picked in the form; the only one when the workspace has one (the form then shows no
    choice); None when there are several and none of them was picked. `areas`: the workspace's, when
    read already."""
    if areas is None:
        areas = people.list_areas(session=session, workspace_id=workspace.id)
    if area_id:
        return next((area for area in areas if area.id == area_id), None)
    if len(areas) == 1:
        return areas[0]
    if not areas:
        return people.default_area(session=session, workspace_id=workspace.id)
    return None
