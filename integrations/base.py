"""What every connected service looks like to the bot, and the registry of them.

A `Service` is something an admin connects (`/partnerbot connect <kind>`): the fields its connect form asks
for and a test of what was typed. A `Tracker` is a service that holds issues: it reads an issue's URL,
fetches the issue, and verifies and reads the service's webhooks. Each kind is one module that calls
`register(...)` on import; adding Asana or Shortcut is one more module listed in `MODULES`.

Every call to a service goes through integrations/http.py, with short timeouts, and fails with a
`ServiceError` whose message is one line a person can act on ("the token was refused", "missing scope
repo", "can't reach example.atlassian.net", "no answer within 2 s", "rate-limited").
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# Every kind a workspace may connect; the `connection` table refuses others.
KINDS = ("jira", "linear", "github", "hubspot", "salesforce")
TRACKER_KINDS = ("github", "linear", "jira")
LABELS = {
    "jira": "Jira",
    "linear": "Linear",
    "github": "GitHub",
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
}
# The modules that register a service; importing them fills the registry.
MODULES = {
    "github": "integrations.github",
    "linear": "integrations.linear",
    "jira": "integrations.jira",
    "hubspot": "integrations.hubspot",
    "salesforce": "integrations.salesforce",
}

# Issue states as the bot understands them, whatever each tracker calls them.
OPEN, STARTED, DONE, CANCELED = "open", "started", "done", "canceled"
STATES = (OPEN, STARTED, DONE, CANCELED)
STATE_WORDS = {OPEN: "open", STARTED: "in progress", DONE: "done", CANCELED: "closed, not done"}


class ServiceError(Exception):
    """A service could not be used as asked. `str(e)` is one line for a person; `field` names the connect
    form's field that is wrong, when one is."""

    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class BadCredentials(ServiceError):
    pass


class MissingScope(ServiceError):
    pass


class Unreachable(ServiceError):
    pass


class TimedOut(ServiceError):
    pass


class RateLimited(ServiceError):
    pass


class NotFound(ServiceError):
    pass


@dataclass(frozen=True)
class FormField:
    """One input of the connect form. `secret` fields are never shown back once saved."""

    name: str
    label: str
    hint: str = ""
    placeholder: str = ""
    optional: bool = False
    secret: bool = True


@dataclass(frozen=True)
class IssueRef:
    kind: str
    key: str  # owner/repo#12, ENG-123, PROJ-7: the tracker's own way of naming it
    url: str


@dataclass(frozen=True)
class Issue:
    kind: str
    key: str
    url: str
    title: str
    state: str  # one of STATES
    state_label: str  # the tracker's own word ("In Review", "closed (completed)")


@dataclass(frozen=True)
class IssueChange:
    """What a webhook says happened to an issue."""

    kind: str
    key: str
    url: str
    title: str
    state: str
    state_label: str
    # The tracker's own words on why it closed (resolution, state_reason), shown to the PM.
    note: str = ""


@dataclass(frozen=True)
class Delivery:
    """A verified webhook delivery: its id (for deduplication) and what changed, if anything we follow."""

    delivery_id: str
    change: IssueChange | None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Service(Protocol):
    kind: str
    label: str
    fields: tuple[FormField, ...]

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        """What the credentials connect as ("octocat on api.github.com"); raises ServiceError."""
        ...


@runtime_checkable
class Tracker(Service, Protocol):
    def parse_issue_url(self, url: str) -> IssueRef | None:
        """The issue a URL points at, or None when it is not one of this tracker's issue URLs."""
        ...

    def get_issue(self, credentials: Mapping[str, str], ref: IssueRef) -> Issue:
        """The issue as the tracker has it now; raises ServiceError."""
        ...

    def verify_webhook(
        self, credentials: Mapping[str, str], headers: Mapping[str, str], body: bytes, now: datetime
    ) -> str | None:
        """None when the delivery is signed with this connection's webhook secret and fresh; otherwise why
        not (for the log, never for the sender)."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """The delivery's id and the issue state change it carries (None for events we don't follow)."""
        ...


_REGISTRY: dict[str, Service] = {}


def register(service: Service) -> Service:
    if service.kind not in KINDS:
        raise ValueError(f"unknown kind {service.kind!r}: add it to integrations.base.KINDS")
    _REGISTRY[service.kind] = service
    return service


def service(kind: str) -> Service | None:
    """The registered service of a kind (importing its module the first time), or None."""
    if kind not in _REGISTRY and kind in MODULES:
        importlib.import_module(MODULES[kind])
    return _REGISTRY.get(kind)


def tracker(kind: str) -> Tracker | None:
    found = service(kind)
    return found if isinstance(found, Tracker) else None


def trackers() -> list[Tracker]:
    return [t for t in (tracker(k) for k in TRACKER_KINDS) if t is not None]


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value whatever its case (WSGI, httpx and tests spell them differently)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value if isinstance(value, str) else str(value)
    return ""


def webhook_signature_problem(
    credentials: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    name: str,
    *,
    prefix: str = "",
    any_case: bool = False,
) -> str | None:
    """Why a delivery's HMAC-SHA256 of its body (hex, after ``prefix``, in header ``name``) does not match
    the connection's webhook secret, or None when it does. ``any_case``: the hex may be in capitals."""
    secret = credentials.get("webhook_secret") or ""
    if not secret:
        return "no webhook secret is set for this connection"
    given = header(headers, name).strip()
    if not given or not given.startswith(prefix):
        return f"no {name}"
    expected = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return (
        None if hmac.compare_digest(given.lower() if any_case else given, expected) else "signature mismatch"
    )
