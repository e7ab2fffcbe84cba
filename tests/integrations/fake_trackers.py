"""A local stand-in for the trackers' HTTP APIs, one loopback server answering in their documented shapes:

- GitHub REST: `GET /user` (X-OAuth-Scopes for classic tokens) and `GET /repos/{owner}/{repo}/issues/{n}`
  (state open/closed, state_reason completed/not_planned), bearer token.
- Linear GraphQL: `POST /graphql` with `viewer` and `issue(id:)` (state { name type }), the API key bare in
  Authorization; errors as GraphQL errors with extensions.code, HTTP 400.
- Jira Cloud REST v3: `GET /rest/api/3/myself` and `GET /rest/api/3/issue/{key}` (fields.status.statusCategory
  .key new/indeterminate/done, fields.resolution), basic auth.

It can be slow (`delay`), fail (`fail_status`: 500, 429 with Retry-After) and records every call. It also
writes the webhook deliveries each service would send (`github_webhook`, `linear_webhook`, `jira_webhook`),
signed the way each documents.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class TrackerCall:
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""


@dataclass
class FakeTrackers:
    github_tokens: dict[str, str | None] = field(
        default_factory=dict
    )  # token -> X-OAuth-Scopes (None: fine-grained)
    github_issues: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    linear_keys: dict[str, str] = field(default_factory=dict)  # api key -> viewer name
    linear_issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    jira_users: dict[tuple[str, str], str] = field(default_factory=dict)  # (email, token) -> display name
    jira_issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    delay: float = 0.0
    # Seconds between each byte of the answer (a service trickling it: each read is quick, the whole slow).
    trickle: float = 0.0
    fail_status: int = 0
    calls: list[TrackerCall] = field(default_factory=list)

    def start(self) -> FakeTrackers:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls_to(self, prefix: str) -> list[TrackerCall]:
        return [c for c in list(self.calls) if c.path.startswith(prefix)]

    # -- the APIs ------------------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode() if length else ""
        self.calls.append(TrackerCall(method, h.path, {k.lower(): v for k, v in h.headers.items()}, body))
        if self.delay:
            time.sleep(self.delay)
        if self.trickle:
            return _trickle(h, self.trickle)
        if self.fail_status:
            headers = {"Retry-After": "30"} if self.fail_status == 429 else {}
            return _send(h, self.fail_status, {"message": "unavailable"}, headers)
        auth = h.headers.get("Authorization") or ""
        path = h.path.split("?")[0]
        if method == "GET" and path == "/user":
            token = auth.removeprefix("Bearer ")
            if token not in self.github_tokens:
                return _send(h, 401, {"message": "Bad credentials"})
            scopes = self.github_tokens[token]
            headers = {"X-OAuth-Scopes": scopes} if scopes is not None else {}
            return _send(h, 200, {"login": "octo-pm", "id": 1}, headers)
        found = re.fullmatch(r"/repos/([^/]+)/([^/]+)/issues/(\d+)", path)
        if method == "GET" and found:
            if auth.removeprefix("Bearer ") not in self.github_tokens:
                return _send(h, 401, {"message": "Bad credentials"})
            issue = self.github_issues.get((found.group(1), found.group(2), int(found.group(3))))
            return _send(h, 200, issue) if issue else _send(h, 404, {"message": "Not Found"})
        if method == "POST" and path == "/graphql":
            return self._linear(h, auth, body)
        if path == "/rest/api/3/myself" or path.startswith("/rest/api/3/issue/"):
            return self._jira(h, auth, path)
        _send(h, 404, {"message": "Not Found"})

    def _linear(self, h: BaseHTTPRequestHandler, auth: str, body: str) -> None:
        if auth not in self.linear_keys:
            return _send(
                h,
                400,
                {
                    "errors": [
                        {
                            "message": "Authentication required, not authenticated",
                            "extensions": {"code": "AUTHENTICATION_ERROR"},
                        }
                    ]
                },
            )
        request = json.loads(body or "{}")
        query = request.get("query") or ""
        if "viewer" in query:
            return _send(
                h, 200, {"data": {"viewer": {"id": "u1", "name": self.linear_keys[auth], "email": "x"}}}
            )
        if "issue(" in query:
            issue = self.linear_issues.get(str((request.get("variables") or {}).get("id")))
            if issue is None:
                return _send(
                    h,
                    200,
                    {
                        "data": None,
                        "errors": [
                            {"message": "Entity not found: Issue", "extensions": {"code": "INVALID_INPUT"}}
                        ],
                    },
                )
            return _send(h, 200, {"data": {"issue": issue}})
        _send(
            h,
            400,
            {"errors": [{"message": "Unknown query", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]},
        )

    def _jira(self, h: BaseHTTPRequestHandler, auth: str, path: str) -> None:
        try:
            email, _, token = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            email, token = "", ""
        if (email, token) not in self.jira_users:
            return _send(h, 401, {"errorMessages": ["Unauthorized"]})
        if path == "/rest/api/3/myself":
            return _send(h, 200, {"displayName": self.jira_users[(email, token)], "emailAddress": email})
        key = path.rsplit("/", 1)[1]
        issue = self.jira_issues.get(key)
        if issue is None:
            return _send(
                h, 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
            )
        _send(h, 200, issue)

    # -- issue shapes --------------------------------------------------------------------------
    def github_issue(
        self,
        owner: str,
        repo: str,
        number: int,
        title: str,
        *,
        state: str = "open",
        reason: str | None = None,
        assignee: str | None = None,
    ) -> dict[str, Any]:
        issue = {
            "id": number * 1000,
            "number": number,
            "title": title,
            "state": state,
            "state_reason": reason,
            "html_url": f"https://github.com/{owner}/{repo}/issues/{number}",
            "assignee": {"login": assignee} if assignee else None,
            "assignees": [{"login": assignee}] if assignee else [],
            "labels": [],
        }
        self.github_issues[(owner, repo, number)] = issue
        return issue

    def linear_issue(self, identifier: str, title: str, *, state_type: str = "unstarted", name: str = "Todo"):
        issue = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, identifier)),
            "identifier": identifier,
            "title": title,
            "url": f"https://linear.app/acme/issue/{identifier}/{title.lower().replace(' ', '-')}",
            "state": {"name": name, "type": state_type},
        }
        self.linear_issues[identifier] = issue
        return issue

    def jira_issue(
        self, key: str, title: str, *, category: str = "new", name: str = "To Do", resolution: str = ""
    ):
        issue = {
            "id": str(10000 + len(self.jira_issues)),
            "key": key,
            "self": f"{self.base}/rest/api/3/issue/{10000 + len(self.jira_issues)}",
            "fields": {
                "summary": title,
                "status": {"name": name, "statusCategory": {"key": category}},
                "resolution": {"name": resolution} if resolution else None,
            },
        }
        self.jira_issues[key] = issue
        return issue


def _send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        h.wfile.write(data)


def _trickle(h: BaseHTTPRequestHandler, pause: float) -> None:
    data = json.dumps({"login": "octo-pm", "padding": "x" * 40}).encode()
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    for i in range(len(data)):
        try:
            h.wfile.write(data[i : i + 1])
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        time.sleep(pause)


# -- webhook deliveries as each service sends them ---------------------------------------------------
def github_webhook(secret: str, action: str, issue: dict[str, Any], *, delivery: str | None = None):
    """(headers, body) of an `issues` event."""
    owner, repo = issue["html_url"].split("/")[3:5]
    body = json.dumps(
        {
            "action": action,
            "issue": issue,
            "repository": {"full_name": f"{owner}/{repo}", "name": repo, "owner": {"login": owner}},
            "sender": {"login": "octo-pm"},
        }
    ).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc123",
    }
    return headers, body


def linear_webhook(secret: str, issue: dict[str, Any], *, at_ms: int, delivery: str | None = None):
    """(headers, body) of an `Issue` update."""
    body = json.dumps(
        {
            "action": "update",
            "type": "Issue",
            "data": {**issue, "stateId": "s1"},
            "updatedFrom": {"stateId": "s0", "updatedAt": "2026-01-01T00:00:00.000Z"},
            "url": issue["url"],
            "createdAt": "2026-01-01T00:00:00.000Z",
            "organizationId": "org1",
            "webhookTimestamp": at_ms,
            "webhookId": "wh-1",
        }
    ).encode()
    headers = {
        "Linear-Delivery": delivery or str(uuid.uuid4()),
        "Linear-Event": "Issue",
        "Linear-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Linear-Webhook",
    }
    return headers, body


def jira_webhook(secret: str, issue: dict[str, Any], *, at_ms: int, delivery: str | None = None):
    """(headers, body) of a `jira:issue_updated` event from a webhook registered with a secret."""
    body = json.dumps(
        {
            "timestamp": at_ms,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": {"displayName": "Jira PM"},
            "issue": issue,
            "changelog": {"id": "1", "items": [{"field": "status", "fieldtype": "jira"}]},
        }
    ).encode()
    headers = {
        "X-Atlassian-Webhook-Identifier": delivery or str(uuid.uuid4().int)[:12],
        "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }
    return headers, body
