"""A local stand-in for the CRMs' HTTP APIs, one loopback server answering in their documented shapes:

- HubSpot CRM v3, bearer token (a private app's): `POST /crm/v3/objects/companies/search` (`query`, `limit`,
  `properties`; answers `{total, results: [{id, properties, createdAt, updatedAt, archived}]}`),
  `GET /crm/v3/objects/companies/{id}` and `GET /crm/v3/owners/{id}`; errors as `{status: "error",
  category, message}` with 401 (INVALID_AUTHENTICATION), 403 (MISSING_SCOPES), 404 (OBJECT_NOT_FOUND).
- Salesforce REST, bearer token: `GET /services/data/vXX.X/query?q=SELECT … FROM Account WHERE Name LIKE
  '%…%' | Id = '…' … LIMIT n` (answers `{totalSize, done, records: [{attributes, Id, Name, AnnualRevenue,
  Owner: {Name}}]}`) and `GET /services/data/vXX.X/search?q=FIND {…}` (`{searchRecords: […]}`); errors as
  `[{errorCode, message}]` with 401 (INVALID_SESSION_ID), 403 (API_DISABLED_FOR_ORG).

It can be slow (`delay`), fail (`fail_status`: 500, 503, 429 with Retry-After) and records every call.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

STAMP = "2026-01-15T10:00:00.000Z"


@dataclass
class CrmCall:
    method: str
    path: str
    query: str
    body: str = ""


@dataclass
class FakeCrm:
    # HubSpot: token -> scopes; companies by id: {name, annualrevenue, hubspot_owner_id, …}; owners by id.
    hubspot_tokens: dict[str, set[str]] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: dict[str, dict[str, str]] = field(default_factory=dict)
    # Salesforce: tokens that may use the API (False: API disabled for the user); accounts by Id.
    salesforce_tokens: dict[str, bool] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Salesforce SOAP login: (username, password + security token) -> the session id it hands out.
    salesforce_users: dict[tuple[str, str], str] = field(default_factory=dict)
    delay: float = 0.0
    fail_status: int = 0
    calls: list[CrmCall] = field(default_factory=list)

    def start(self) -> FakeCrm:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls_to(self, prefix: str) -> list[CrmCall]:
        return [c for c in list(self.calls) if c.path.startswith(prefix)]

    # -- serving ---------------------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode() if length else ""
        self.calls.append(CrmCall(method, parts.path, parts.query, body))
        if self.delay:
            time.sleep(self.delay)
        token = (h.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if parts.path.startswith("/crm/") or parts.path.startswith("/account-info/"):
            status, data, headers = self._hubspot(method, parts.path, parts.query, body, token)
        elif parts.path.startswith("/services/Soap/u/"):
            self._soap_login(h, body)
            return
        elif parts.path.startswith("/services/data/"):
            status, data, headers = self._salesforce(method, parts.path, parts.query, token)
        else:
            status, data, headers = 404, {"message": "no such path"}, {}
        raw = json.dumps(data).encode()
        # The caller may have stopped waiting (a slow-CRM test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(h, status, raw, headers)

    def _soap_login(self, h: BaseHTTPRequestHandler, body: str) -> None:
        """The partner API's `login` call: a SOAP envelope with username and password (+ security token);
        answers the session id and server URL, or a LoginFault INVALID_LOGIN with status 500."""
        user = re.search(r"<n1:username>(.*?)</n1:username>", body, re.DOTALL)
        password = re.search(r"<n1:password>(.*?)</n1:password>", body, re.DOTALL)
        key = (
            html.unescape(user.group(1)) if user else "",
            html.unescape(password.group(1)) if password else "",
        )
        session_id = self.salesforce_users.get(key)
        head = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body>"
        )
        if session_id:
            status, inner = (
                200,
                (
                    f"<loginResponse><result><metadataServerUrl>{self.base}/services/Soap/m/60.0/00Dfake"
                    f"</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
                    f"<serverUrl>{self.base}/services/Soap/u/60.0/00Dfake</serverUrl>"
                    f"<sessionId>{session_id}</sessionId><userId>005fake</userId></result></loginResponse>"
                ),
            )
        else:
            message = "Invalid username, password, security token; or user locked out."
            status, inner = (
                500,
                (
                    f"<soapenv:Fault><faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: {message}"
                    f'</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN'
                    f"</sf:exceptionCode><sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault>"
                    "</detail></soapenv:Fault>"
                ),
            )
        raw = (head + inner + "</soapenv:Body></soapenv:Envelope>").encode()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            h.send_response(status)
            h.send_header("Content-Type", "text/xml;charset=UTF-8")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)

    def _answer(self, h: BaseHTTPRequestHandler, status: int, raw: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json;charset=utf-8")
        h.send_header("Content-Length", str(len(raw)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(raw)

    def _failure(self, hubspot: bool) -> tuple[int, Any, dict[str, str]] | None:
        if not self.fail_status:
            return None
        headers = {"Retry-After": "10"} if self.fail_status == 429 else {}
        if hubspot:
            category = "RATE_LIMITS" if self.fail_status == 429 else "INTERNAL_ERROR"
            return (
                self.fail_status,
                {"status": "error", "category": category, "message": "fake failure"},
                headers,
            )
        return self.fail_status, [{"errorCode": "SERVER_UNAVAILABLE", "message": "fake failure"}], headers

    # HubSpot ------------------------------------------------------------------------------------
    def _hubspot(self, method: str, path: str, query: str, body: str, token: str) -> tuple[int, Any, dict]:
        failed = self._failure(True)
        if failed:
            return failed
        if token not in self.hubspot_tokens:
            return 401, _hs_error("INVALID_AUTHENTICATION", "Authentication credentials not found."), {}
        scopes = self.hubspot_tokens[token]
        owner = re.fullmatch(r"/crm/v3/owners/(\d+)", path)
        if owner:
            if "crm.objects.owners.read" not in scopes:
                return (
                    403,
                    _hs_error("MISSING_SCOPES", "This app hasn't been granted all required scopes."),
                    {},
                )
            found = self.owners.get(owner.group(1))
            if not found:
                return 404, _hs_error("OBJECT_NOT_FOUND", "Owner not found"), {}
            return (
                200,
                {"id": owner.group(1), **found, "createdAt": STAMP, "updatedAt": STAMP, "archived": False},
                {},
            )
        if "crm.objects.companies.read" not in scopes:
            return 403, _hs_error("MISSING_SCOPES", "This app hasn't been granted all required scopes."), {}
        if method == "POST" and path == "/crm/v3/objects/companies/search":
            ask = json.loads(body or "{}")
            words = str(ask.get("query") or "").casefold()
            hits = [
                (cid, c)
                for cid, c in self.companies.items()
                if not words
                or words in str(c.get("name", "")).casefold()
                or words in str(c.get("domain", ""))
            ]
            limit = int(ask.get("limit") or 10)
            wanted = ask.get("properties") or ["name"]
            results = [_hs_object(cid, c, wanted) for cid, c in hits[:limit]]
            return 200, {"total": len(hits), "results": results}, {}
        one = re.fullmatch(r"/crm/v3/objects/companies/([^/]+)", path)
        if method == "GET" and one:
            cid = unquote(one.group(1))
            if cid not in self.companies:
                return (
                    404,
                    _hs_error("OBJECT_NOT_FOUND", "Object not found. objectId are usually numeric."),
                    {},
                )
            wanted = [p for v in parse_qs(query).get("properties", []) for p in v.split(",")] or ["name"]
            return 200, _hs_object(cid, self.companies[cid], wanted), {}
        return 404, _hs_error("OBJECT_NOT_FOUND", "no such path"), {}

    # Salesforce ---------------------------------------------------------------------------------
    def _salesforce(self, method: str, path: str, query: str, token: str) -> tuple[int, Any, dict]:
        failed = self._failure(False)
        if failed:
            return failed
        if token not in self.salesforce_tokens:
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
        if not self.salesforce_tokens[token]:
            return (
                403,
                [
                    {
                        "message": "The REST API is not enabled for this Organization.",
                        "errorCode": "API_DISABLED_FOR_ORG",
                    }
                ],
                {},
            )
        q = (parse_qs(query).get("q") or [""])[0]
        if re.fullmatch(r"/services/data/v\d+\.\d/query/?", path):
            return 200, self._soql(q), {}
        if re.fullmatch(r"/services/data/v\d+\.\d/search/?", path):
            found = re.match(r"FIND\s*\{(.*?)\}", q, re.IGNORECASE | re.DOTALL)
            words = (found.group(1) if found else "").replace("\\", "").casefold().strip("*")
            hits = [a for a in self.accounts.values() if words and words in a["Name"].casefold()]
            return 200, {"searchRecords": [_sf_record(a) for a in hits]}, {}
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}

    def _soql(self, q: str) -> dict[str, Any]:
        if not re.match(r"SELECT\s.+\sFROM\s+Account\b", q, re.IGNORECASE | re.DOTALL):
            return {"totalSize": 0, "done": True, "records": []}
        limit = re.search(r"LIMIT\s+(\d+)", q, re.IGNORECASE)
        like = re.search(r"Name\s+LIKE\s+'((?:[^'\\]|\\.)*)'", q, re.IGNORECASE)
        by_id = re.search(r"Id\s*=\s*'([A-Za-z0-9]+)'", q)
        rows = list(self.accounts.values())
        if like:
            pattern = like.group(1)
            inner = pattern[1:-1] if pattern.startswith("%") and pattern.endswith("%") else pattern
            words = re.sub(r"\\(.)", r"\1", inner).casefold()  # '%…%': contains, escapes undone
            rows = [a for a in rows if words in a["Name"].casefold()]
        if by_id:
            rows = [a for a in rows if a["Id"] == by_id.group(1)]
        if re.search(r"ORDER BY AnnualRevenue DESC", q, re.IGNORECASE):
            rows.sort(key=lambda a: -(a.get("AnnualRevenue") or 0))
        rows = rows[: int(limit.group(1))] if limit else rows
        return {"totalSize": len(rows), "done": True, "records": [_sf_record(a) for a in rows]}


def _hs_error(category: str, message: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": "0-fake", "category": category}


def _hs_object(cid: str, company: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    props = {p: (None if company.get(p) is None else str(company[p])) for p in wanted}
    props.update({"hs_object_id": cid, "createdate": STAMP, "hs_lastmodifieddate": STAMP})
    return {"id": cid, "properties": props, "createdAt": STAMP, "updatedAt": STAMP, "archived": False}


def _sf_record(account: dict[str, Any]) -> dict[str, Any]:
    owner = account.get("Owner")
    return {
        "attributes": {"type": "Account", "url": f"/services/data/v60.0/sobjects/Account/{account['Id']}"},
        "Id": account["Id"],
        "Name": account["Name"],
        "AnnualRevenue": account.get("AnnualRevenue"),
        "Owner": {"attributes": {"type": "User"}, "Name": owner} if owner else None,
    }
