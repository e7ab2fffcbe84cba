"""HubSpot as the CRM that supplies the money: a private app's access token; companies searched by name
(`POST /crm/v3/objects/companies/search`) and read by id (`GET /crm/v3/objects/companies/{id}`) through
HubSpot's own client (hubspot-api-client), each with its annual revenue and owner.

PARTNERBOT_HUBSPOT_API_URL points the client at another host (a local test server); it defaults to
https://api.hubapi.com. Scopes: crm.objects.companies.read (and crm.objects.owners.read to show owners'
names; without it the typeahead shows no owner)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from integrations import http
from integrations.base import (
    BadCredentials,
    FormField,
    MissingScope,
    NotFound,
    RateLimited,
    ServiceError,
    TimedOut,
    Unreachable,
    register,
)
from integrations.crm import Account, amount_cents, check_currency, currency_of, valid_id, within

log = logging.getLogger(__name__)

DEFAULT_API = "https://api.hubapi.com"
PROPERTIES = ["name", "domain", "annualrevenue", "hs_annual_revenue_currency_code", "hubspot_owner_id"]
# Owners' names by (token digest, owner id): a handful per workspace, asked once per process.
_OWNERS: dict[tuple[str, str], str] = {}
_OWNERS_MOST = 5000


class HubSpot:
    kind = "hubspot"
    label = "HubSpot"
    fields = (
        FormField(
            "token",
            "Private app access token",
            hint="HubSpot → Settings → Integrations → Private apps; scope crm.objects.companies.read "
            "(crm.objects.owners.read to show owners).",
            placeholder="pat-…",
        ),
        FormField(
            "currency",
            "Currency of annual revenue",
            hint="Your HubSpot account's company currency, e.g. USD or EUR (USD when empty).",
            placeholder="USD",
            optional=True,
            secret=False,
        ),
    )

    def api(self) -> str:
        return (os.environ.get("PARTNERBOT_HUBSPOT_API_URL") or DEFAULT_API).rstrip("/")

    def _client(self, credentials: Mapping[str, str]) -> Any:
        from hubspot import HubSpot as Client  # imported on first use: the bot runs without a CRM

        # No retries: a form waits for one answer at most; the clock asks again later.
        return Client(
            access_token=credentials.get("token", ""), host=self.api(), retry=Retry(total=0, redirect=0)
        )

    def _call(self, what: str, deadline: float, fn: Any) -> Any:
        def run() -> Any:
            try:
                return fn()
            except ServiceError:
                raise
            except Exception as e:  # the client's ApiException (status, headers) or urllib3's errors
                raise _error(e) from None

        return within(deadline, "HubSpot", run)

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        check_currency(credentials)
        client = self._client(credentials)
        deadline = http.timeout()
        from hubspot.crm.companies import PublicObjectSearchRequest

        found = self._call(
            "search",
            deadline,
            lambda: client.crm.companies.search_api.do_search(
                public_object_search_request=PublicObjectSearchRequest(limit=1, properties=["name"]),
                _request_timeout=deadline,
            ),
        )
        total = getattr(found, "total", None)
        return f"HubSpot ({total:,} companies)" if isinstance(total, int) else "HubSpot"

    def search_accounts(
        self, credentials: Mapping[str, str], typed: str, *, limit: int, deadline: float
    ) -> list[Account]:
        from hubspot.crm.companies import PublicObjectSearchRequest

        client = self._client(credentials)

        def run() -> list[Account]:
            found = client.crm.companies.search_api.do_search(
                public_object_search_request=PublicObjectSearchRequest(
                    query=typed[:100],
                    limit=limit,
                    properties=PROPERTIES,
                    sorts=["-annualrevenue"],
                ),
                _request_timeout=deadline,
            )
            return [self._account(client, credentials, row, deadline) for row in found.results or []]

        return self._call("search", deadline, run)

    def get_account(self, credentials: Mapping[str, str], account_id: str, *, deadline: float) -> Account:
        if not valid_id(self.kind, account_id):
            raise NotFound("HubSpot has no such company.")
        client = self._client(credentials)

        def run() -> Account:
            row = client.crm.companies.basic_api.get_by_id(
                company_id=account_id, properties=PROPERTIES, _request_timeout=deadline
            )
            return self._account(client, credentials, row, deadline)

        return self._call("read", deadline, run)

    def _account(self, client: Any, credentials: Mapping[str, str], row: Any, deadline: float) -> Account:
        props = getattr(row, "properties", None) or {}
        return Account(
            kind=self.kind,
            id=str(row.id),
            name=" ".join(str(props.get("name") or f"Company {row.id}").split())[:255],
            amount_cents=amount_cents(props.get("annualrevenue")),
            currency=currency_of(
                props.get("hs_annual_revenue_currency_code"), credentials.get("currency", "")
            ),
            owner=self._owner(client, credentials, str(props.get("hubspot_owner_id") or ""), deadline),
        )

    def _owner(self, client: Any, credentials: Mapping[str, str], owner_id: str, deadline: float) -> str:
        """The owner's name (asked once per process); "" without the owners scope or when HubSpot fails."""
        if not owner_id.isdigit():
            return ""
        key = (hashlib.sha256(credentials.get("token", "").encode()).hexdigest()[:16], owner_id)
        if key not in _OWNERS:
            try:
                owner = client.crm.owners.owners_api.get_by_id(
                    owner_id=int(owner_id), _request_timeout=deadline
                )
                name = " ".join(f"{owner.first_name or ''} {owner.last_name or ''}".split())
                name = name or str(owner.email or "")
            except Exception as e:  # no owners scope, or a hiccup: the account shows without its owner
                log.info("HubSpot owner %s: %s", owner_id, type(e).__name__)
                name = ""
            if len(_OWNERS) > _OWNERS_MOST:
                _OWNERS.clear()
            _OWNERS[key] = name
        return _OWNERS[key]


def _error(e: Exception) -> ServiceError:
    status = getattr(e, "status", None)
    if isinstance(status, int):
        headers = getattr(e, "headers", None) or {}
        if status == 429:
            wait = str(headers.get("Retry-After") or "")
            return RateLimited(
                "HubSpot is rate-limiting us"
                + (f" for {wait} s" if wait.isdigit() else "")
                + "; try again later."
            )
        if status == 401:
            return BadCredentials(
                "HubSpot refused the token (401): check it was copied whole.", field="token"
            )
        if status == 403:
            return MissingScope(
                "HubSpot said the token may not read companies (403): the private app needs the "
                "crm.objects.companies.read scope.",
                field="token",
            )
        if status == 404:
            return NotFound("HubSpot has no such company, or the token can't see it (404).")
        if status >= 500:
            return Unreachable(f"HubSpot is having trouble (it answered {status}); try again later.")
        return ServiceError(f"HubSpot answered {status}.")
    if isinstance(e, Urllib3Timeout | TimeoutError) or isinstance(getattr(e, "reason", None), Urllib3Timeout):
        # The read's own timeout (the deadline) can fire before `within` gives up waiting on a busy
        # machine: still a service too slow to answer, not one out of reach.
        return TimedOut("HubSpot didn't answer in time; try again in a moment.")
    if isinstance(e, Urllib3Error | OSError):
        host = http.host_of(SERVICE.api())
        return Unreachable(f"Can't reach {host}: check the address and that it is up.")
    log.warning("HubSpot: unexpected %s", type(e).__name__)
    return ServiceError(f"HubSpot answered in a way I couldn't read ({type(e).__name__}).")


SERVICE = register(HubSpot())
