"""Salesforce as the CRM that supplies the money: the org's address and an access token (a connected app's
OAuth token or the integration user's session id); Accounts found with SOQL (`GET /services/data/vXX.X/
query?q=SELECT … FROM Account WHERE Name LIKE …`) through simple-salesforce, each with its AnnualRevenue and
Owner.Name. The user needs API access ("API Enabled") and read access to Accounts."""

from __future__ import annotations

import hashlib
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
        # Only for a local test server: its https:// and the login host's addresses go to it over http.
        self.plain = (
            (f"https://{parts.netloc}", "https://login.salesforce.com") if parts.scheme == "http" else ()
        )
        self.base = base

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = self.deadline
        kwargs["allow_redirects"] = False
        for prefix in self.plain:
            if str(url).startswith(prefix + "/"):
                url = self.base + str(url)[len(prefix) :]
                break
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
            "needs API Enabled and read access to Accounts. Or leave it empty and give the user's "
            "username, password and security token below.",
            optional=True,
        ),
        FormField("username", "Username (instead of a token)", optional=True, secret=False),
        FormField("password", "Password (instead of a token)", optional=True),
        FormField(
            "security_token",
            "Security token",
            hint="Salesforce → your settings → Reset My Security Token (not needed from a trusted IP range).",
            optional=True,
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

    def _client(self, credentials: Mapping[str, str], deadline: float, *, fresh: bool = False) -> Any:
        """A client on the access token, or on a session logged in with username, password and security
        token (kept per process; `fresh` logs in again, for an expired one)."""
        from simple_salesforce import Salesforce as Client  # imported on first use

        base = http.check_base_url(credentials.get("instance_url", ""), "instance_url")
        session = _Session(base, deadline)
        token = credentials.get("access_token", "")
        if token:
            return Client(instance_url=base, session_id=token, version=API_VERSION, session=session)
        if not (credentials.get("username") and credentials.get("password")):
            raise ServiceError(
                "Give an access token, or the username, password and security token.", field="access_token"
            )
        key = hashlib.sha256(
            "\0".join(
                credentials.get(k, "") for k in ("instance_url", "username", "password", "security_token")
            ).encode()
        ).hexdigest()
        if fresh or key not in _SESSIONS:
            from simple_salesforce.login import SalesforceLogin

            session_id, instance = SalesforceLogin(
                username=credentials["username"],
                password=credentials["password"],
                security_token=credentials.get("security_token", ""),
                domain=_login_domain(base),
                sf_version=API_VERSION,
                session=session,
            )
            if len(_SESSIONS) > 1000:
                _SESSIONS.clear()
            _SESSIONS[key] = (session_id, instance)
        session_id, instance = _SESSIONS[key]
        return Client(instance=instance, session_id=session_id, version=API_VERSION, session=session)

    def _query(self, credentials: Mapping[str, str], soql: str, deadline: float) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            try:
                try:
                    return list(self._client(credentials, deadline).query(soql).get("records") or [])
                except Exception as e:
                    from simple_salesforce.exceptions import SalesforceAuthenticationFailed

                    expired = int(getattr(e, "status", 0) or 0) == 401
                    if (
                        credentials.get("access_token")
                        or isinstance(e, SalesforceAuthenticationFailed)
                        or not expired
                    ):
                        raise
                    # The logged-in session expired: log in again, once.
                    client = self._client(credentials, deadline, fresh=True)
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


# Sessions logged in with username and password, by a digest of the credentials: (session id, instance).
_SESSIONS: dict[str, tuple[str, str]] = {}


def _login_domain(base: str) -> str:
    """simple-salesforce logs in at https://<domain>.salesforce.com: the org's My Domain
    (yourcompany.my), test for a sandbox's test.salesforce.com, else login (and a local test server: the
    session maps login.salesforce.com to it)."""
    host = urlsplit(base).hostname or ""
    if host.endswith(".salesforce.com"):
        return host[: -len(".salesforce.com")]
    return "login"


def _error(e: Exception, credentials: Mapping[str, str]) -> ServiceError:
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

    if isinstance(e, ServiceError):
        return e
    if isinstance(e, SalesforceAuthenticationFailed):
        code = str(getattr(e, "code", "") or "")
        if code == "INVALID_LOGIN" or "LOGIN" in code:
            return BadCredentials(
                "Salesforce refused the username, password or security token (INVALID_LOGIN).",
                field="password",
            )
        if code.isdigit() and int(code) >= 500 or code == "SERVER_UNAVAILABLE":
            return Unreachable(f"Salesforce is having trouble logging in ({code}); try again later.")
        return BadCredentials(
            f"Salesforce refused the login ({code[:60] or 'no reason given'}).", field="password"
        )
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
