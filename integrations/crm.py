"""What the bot reads from a connected CRM (HubSpot, Salesforce): its accounts, each with its value (annual
revenue) and owner, for the request form's customer typeahead, the check of a picked account on submit, and
the clock's refresh of the amounts of customers linked to one.

A CRM account travels through Slack as the option value `crm:<kind>:<id>:<name>`. That value comes back
untrusted: `parse_option` checks its shape, and the submit asks the workspace's own connection for that id
before anything is stored as linked to it (handlers/crm_pick.py).

Every call waits at most a deadline (1 s in the typeahead, integrations.http.timeout() on submit) whatever
the CRM does; a CRM that is down, slow or rate-limiting never blocks logging: the typeahead falls back to the
workspace's own customers and the amount is fetched again later by the clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from integrations.base import Service, ServiceError, TimedOut, service
from storage.money import format_money

CRM_KINDS = ("hubspot", "salesforce")
# The typeahead answers every keystroke; Slack waits 3 s for the options, so a CRM gets 1 s of it.
TYPEAHEAD_TIMEOUT = 1.0
MOST = 10  # CRM accounts offered per keystroke
_ID = {
    "hubspot": re.compile(r"^[0-9]{1,20}$"),
    "salesforce": re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$"),
}
_OPTION = re.compile(r"^crm:(hubspot|salesforce):([A-Za-z0-9]{1,20}):(.+)$", re.DOTALL)
OPTION_LIMIT = 150  # Slack keeps an option's value to 150 characters

POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="crm")
T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    kind: str
    id: str
    name: str
    amount_cents: int | None  # the account's value (annual revenue), None when the CRM has none
    currency: str
    owner: str = ""

    @property
    def ref(self) -> str:
        """How an occurrence names it: `hubspot:123`, `salesforce:001…`."""
        return f"{self.kind}:{self.id}"

    def label(self) -> str:
        """What the typeahead shows: name, value and owner."""
        parts = [self.name]
        if self.amount_cents is not None:
            parts.append(f"{format_money(self.amount_cents, self.currency)} ARR")
        if self.owner:
            parts.append(f"owner {self.owner}")
        return " · ".join(parts)


@runtime_checkable
class Crm(Service, Protocol):
    def search_accounts(
        self, credentials: Mapping[str, str], typed: str, *, limit: int, deadline: float
    ) -> list[Account]: ...

    def get_account(self, credentials: Mapping[str, str], account_id: str, *, deadline: float) -> Account:
        """The account as the CRM has it now; NotFound when this connection can't see that id."""
        ...


def crm(kind: str) -> Crm | None:
    found = service(kind) if kind in CRM_KINDS else None
    return found if isinstance(found, Crm) else None


def valid_id(kind: str, account_id: str) -> bool:
    pattern = _ID.get(kind)
    return bool(pattern and pattern.fullmatch(account_id or ""))


def option_value(account: Account) -> str:
    head = f"crm:{account.kind}:{account.id}:"
    return head + account.name[: OPTION_LIMIT - len(head)]


@dataclass(frozen=True)
class Picked:
    kind: str
    id: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


class BadOption(ValueError):
    """An option value that claims to be a CRM account but is not in the shape the bot writes."""


def parse_option(value: str) -> Picked | None:
    """None for a plain customer name; the CRM account it names; BadOption for a `crm:` value the bot never
    writes (a forged or mangled one)."""
    if not value.startswith("crm:"):
        return None
    match = _OPTION.fullmatch(value)
    if not match or not valid_id(match.group(1), match.group(2)):
        raise BadOption(value)
    name = " ".join(match.group(3).split())
    if not name:
        raise BadOption(value)
    return Picked(kind=match.group(1), id=match.group(2), name=name)


def within(deadline: float, what: str, call: Callable[[], T]) -> T:
    """`call()`'s result, waiting at most `deadline` seconds in all (the SDKs' own timeouts bound each
    read, not the whole exchange)."""
    future = POOL.submit(call)
    try:
        return future.result(timeout=deadline)
    except FutureTimeout:
        future.cancel()
        raise TimedOut(f"{what} didn't answer within {deadline:g} s; try again in a moment.") from None


def amount_cents(value: object) -> int | None:
    """A CRM's number ("1200000", 1200000.5, None, "") as cents; None when it isn't a positive amount."""
    if value is None or value == "":
        return None
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        return None
    if not number > 0 or number >= 1e13:
        return None
    return int(round(number * 100))


def currency_of(code: object, fallback: str) -> str:
    """The record's ISO currency code, else the connection's (its connect form), else USD."""
    for text in (str(code or "").strip().upper(), str(fallback or "").strip().upper()):
        if re.fullmatch(r"[A-Z]{3}", text):
            return text
    return "USD"


def check_currency(credentials: Mapping[str, str]) -> None:
    """The connect form's currency: empty (USD) or a three-letter ISO code."""
    typed = (credentials.get("currency") or "").strip()
    if typed and not re.fullmatch(r"[A-Za-z]{3}", typed):
        raise ServiceError(
            f"A currency is three letters like USD or EUR (you typed “{typed[:50]}”).", field="currency"
        )


__all__ = ["Account", "BadOption", "Crm", "Picked", "ServiceError", "crm", "parse_option"]
