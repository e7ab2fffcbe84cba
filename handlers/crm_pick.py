"""The CRM in the request form: its accounts offered in the customer typeahead, and a picked account
checked with the workspace's own CRM connection before the occurrence is stored as linked to it.

A CRM that is down, slow (more than integrations.crm.TYPEAHEAD_TIMEOUT in the typeahead, integrations.http
.timeout() on submit) or rate-limiting never blocks logging: the typeahead offers the workspace's own
customers, and a pick that can't be checked is stored unconfirmed (counted by its name) for the clock to
confirm and price later (storage/crm.py)."""

from __future__ import annotations

import logging
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait
from dataclasses import dataclass
from typing import Any

from handlers.views.request_modal_builder import Answers
from integrations import connections, http
from integrations.base import LABELS, NotFound, ServiceError
from integrations.crm import CRM_KINDS, MOST, POOL, TYPEAHEAD_TIMEOUT, Account, crm
from storage.db import session_scope
from storage.money import Money

log = logging.getLogger(__name__)


def connected_crms(session: Any, workspace_id: int) -> dict[str, dict[str, str]]:
    """The workspace's CRM connections whose credentials can be read: kind -> credentials."""
    out: dict[str, dict[str, str]] = {}
    for kind in CRM_KINDS:
        creds = connections.credentials(session, workspace_id=workspace_id, kind=kind)
        if creds is not None and crm(kind) is not None:
            out[kind] = creds
    return out


def search(crms: dict[str, dict[str, str]], typed: str, deadline: float | None = None) -> list[Account]:
    """The accounts each connected CRM finds for `typed`, asked at once and waited for at most `deadline`
    (TYPEAHEAD_TIMEOUT, or PARTNERBOT_INTEGRATION_TIMEOUT when shorter) in all; a CRM that fails or is
    late is left out (logged)."""
    if not crms or not typed.strip():
        return []
    deadline = deadline or min(TYPEAHEAD_TIMEOUT, http.timeout())
    futures = {
        POOL.submit(crm(kind).search_accounts, creds, typed, limit=MOST, deadline=deadline): kind
        for kind, creds in crms.items()
    }
    done, late = wait(futures, timeout=deadline)
    found: list[Account] = []
    for future in futures:
        kind = futures[future]
        if future in late:
            future.cancel()
            log.info(
                "the %s typeahead search was late (over %s s): offering our own customers", kind, deadline
            )
            continue
        try:
            found.extend(future.result(timeout=0))
        except (ServiceError, FutureTimeout) as e:
            log.info("the %s typeahead search failed: %s", kind, e)
        except Exception:
            log.exception("the %s typeahead search failed", kind)
    return found


@dataclass
class Checked:
    money: Money | None
    error: str = ""  # for the customer field: the pick is not one this workspace's CRM has


def confirm_pick(engine: Any, workspace_id: int, answers: Answers, money: Money | None) -> Checked:
    """Check a picked CRM account with the workspace's connection (the option value is untrusted) and fill
    the amount from it when none was typed (what was typed wins). Changes `answers` in place."""
    if not answers.crm_ref:
        return Checked(money)
    kind, _, account_id = answers.crm_ref.partition(":")
    with session_scope(engine) as session:
        creds = connections.credentials(session, workspace_id=workspace_id, kind=kind)
    service = crm(kind)
    if creds is None or service is None:
        # Not (or no longer) connected: the name alone, as if typed.
        answers.crm_ref = ""
        return Checked(money)
    try:
        account = service.get_account(creds, account_id, deadline=http.timeout())
    except NotFound:
        answers.crm_ref = ""
        return Checked(
            money,
            error=f"{LABELS[kind]} has no account with that id for this workspace; pick the customer again.",
        )
    except ServiceError as e:
        # Logged anyway, unconfirmed: the clock confirms it and fetches the amount when the CRM answers.
        log.info("couldn't check the %s account on submit (%s); the clock tries again", kind, e)
        return Checked(money)
    answers.customer = account.name
    answers.crm_ref = account.ref
    answers.crm_verified = True
    if money is None and account.amount_cents is not None:
        answers.amount_from_crm = True
        money = Money(cents=account.amount_cents, currency=account.currency)
    return Checked(money)
