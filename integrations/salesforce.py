"""Salesforce as the CRM that supplies the money: the org's address and an access token (a connected app's
OAuth token or the integration user's session id); Accounts found with SOQL (`GET /services/data/vXX.X/
query?q=SELECT … FROM Account WHERE Name LIKE …`) through simple-salesforce, each with its AnnualRevenue and
Owner.Name. The user needs API access ("API Enabled") and read access to Accounts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from integrations import http
from integrations.base import (
    BadCredentials,
    FormField,
    MissingScope,
    NotFound,
    RateLimited,
    ServiceError,
    Unreachable,
    register,
)
from integrations.crm import Account, amount_cents, check_currency, currency_of, valid_id, within

log = logging.getLogger(__name__)

API_VERSION = "60.0"
FIELDS = "Id, Name, AnnualRevenue, Owner.Name"


class _Session(requests.Session):
    """Every call bounded by `deadline`; a local test server (http://127.0.0.1:…, the only http:// address
    check_base_url lets through) reached over plain http, as simple-salesforce always writes https://."""

    def __init__(self, base: str, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        parts = urlsplit(base)
        self.plain = f"https://{parts.netloc}" if parts.scheme == "http" else ""
        self.base = base

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = self.deadline
        kwargs["allow_redirects"] = False
        if self.plain and str(url).startswith(self.plain):
            url = self.base + str(url)[len(self.plain) :]
        return super().request(method, url, *args, **kwargs)


def soql_literal(text: str) -> str:
    """A SOQL string literal's inside, for LIKE: quotes and backslashes escaped, and the LIKE wildcards."""
    text = text.replace("\\", "\\\\").replace("'", "\\'")
    return text.replace("%", "\\%").replace("_", "\\_")


class Salesforce:
    kind = "salesforce"
    label = "Salesforce"
    fields = (
        FormField(
            "instance_url",
            "Salesforce address",
            placeholder="https://yourcompany.my.salesforce.com",
            secret=False,
        ),
        FormField(
            "access_token",
            "Access token",
            hint="A connected app's OAuth token (api scope) or the integration user's session id; the user "
            "needs API Enabled and read access to Accounts.",
        ),
        FormField(
            "currency",
            "Currency of annual revenue",
            hint="Your org's corporate currency, e.g. USD or EUR (USD when empty).",
            placeholder="USD",
            optional=True,
            secret=False,
        ),
    )

    def _client(self, credentials: Mapping[str, str], deadline: float) -> Any:
        from simple_salesforce import Salesforce as Client  # imported on first use

        base = http.check_base_url(credentials.get("instance_url", ""), "instance_url")
        return Client(
            instance_url=base,
            session_id=credentials.get("access_token", ""),
            version=API_VERSION,
            session=_Session(base, deadline),
        )

    def _query(self, credentials: Mapping[str, str], soql: str, deadline: float) -> list[dict[str, Any]]:
        client = self._client(credentials, deadline)

        def run() -> list[dict[str, Any]]:
            try:
                return list(client.query(soql).get("records") or [])
            except Exception as e:
                raise _error(e, credentials) from None

        return within(deadline, "Salesforce", run)

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        check_currency(credentials)
        self._query(credentials, "SELECT Id FROM Account LIMIT 1", http.timeout())
        return f"Salesforce at {http.host_of(credentials.get('instance_url', '').strip())}"

    def search_accounts(
        self, credentials: Mapping[str, str], typed: str, *, limit: int, deadline: float
    ) -> list[Account]:
        words = " ".join(typed.split())[:100]
        soql = (
            f"SELECT {FIELDS} FROM Account WHERE Name LIKE '%{soql_literal(words)}%' "
            f"ORDER BY AnnualRevenue DESC NULLS LAST LIMIT {int(limit)}"
        )
        return [self._account(credentials, r) for r in self._query(credentials, soql, deadline)]

    def get_account(self, credentials: Mapping[str, str], account_id: str, *, deadline: float) -> Account:
        if not valid_id(self.kind, account_id):
            raise NotFound("Salesforce has no such Account.")
        rows = self._query(
            credentials, f"SELECT {FIELDS} FROM Account WHERE Id = '{account_id}' LIMIT 1", deadline
        )
        if not rows:
            raise NotFound("Salesforce has no such Account, or the token can't see it.")
        return self._account(credentials, rows[0])

    def _account(self, credentials: Mapping[str, str], row: Mapping[str, Any]) -> Account:
        owner = row.get("Owner") or {}
        return Account(
            kind=self.kind,
            id=str(row.get("Id") or ""),
            name=" ".join(str(row.get("Name") or "").split())[:255] or "Account",
            amount_cents=amount_cents(row.get("AnnualRevenue")),
            currency=currency_of(row.get("CurrencyIsoCode"), credentials.get("currency", "")),
            owner=" ".join(str(owner.get("Name") or "").split()) if isinstance(owner, Mapping) else "",
        )


def _error(e: Exception, credentials: Mapping[str, str]) -> ServiceError:
    from simple_salesforce.exceptions import SalesforceError

    if isinstance(e, ServiceError):
        return e
    if isinstance(e, SalesforceError):
        status = int(getattr(e, "status", 0) or 0)
        if status == 401:
            return BadCredentials(
                "Salesforce refused the token (401): it is wrong or its session expired.",
                field="access_token",
            )
        if status == 403:
            content = str(getattr(e, "content", ""))
            if "REQUEST_LIMIT_EXCEEDED" in content:
                return RateLimited("Salesforce says the org's API request limit is used up; try again later.")
            return MissingScope(
                "Salesforce said this user may not use the API (403): it needs API Enabled.",
                field="access_token",
            )
        if status == 404:
            return NotFound("Salesforce has no such thing at that address (404).")
        if status == 429:
            return RateLimited("Salesforce is rate-limiting us; try again later.")
        if status >= 500:
            return Unreachable(f"Salesforce is having trouble (it answered {status}); try again later.")
        return ServiceError(f"Salesforce answered {status}.")
    if isinstance(e, requests.Timeout):
        return ServiceError("Salesforce didn't answer in time; try again in a moment.")
    if isinstance(e, requests.RequestException | OSError):
        host = http.host_of(credentials.get("instance_url", "").strip())
        return Unreachable(f"Can't reach {host}: check the address and that it is up.", field="instance_url")
    log.warning("Salesforce: unexpected %s", type(e).__name__)
    return ServiceError(f"Salesforce answered in a way I couldn't read ({type(e).__name__}).")


SERVICE = register(Salesforce())
