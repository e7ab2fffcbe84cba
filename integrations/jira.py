"""Jira Cloud: REST API v3 (`GET /rest/api/3/issue/{key}`, basic auth with an account's email and API token)
and `jira:issue_updated` webhooks registered with a secret, signed with X-Hub-Signature (`sha256=` and
the hex HMAC-SHA256 of the body), stamped with `timestamp` (refused when more than 10 minutes off), and
identified by X-Atlassian-Webhook-Identifier.

States follow the status category: new → open; indeterminate → started; done → done, unless the
resolution says it was not done (Won't Do, Duplicate, Cannot Reproduce, Declined…) → canceled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from integrations import http
from integrations.base import (
    CANCELED,
    DONE,
    OPEN,
    STARTED,
    Delivery,
    FormField,
    Issue,
    IssueChange,
    IssueRef,
    header,
    register,
    webhook_signature_problem,
)

_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]{0,9}$")
_BROWSE = re.compile(r"^/browse/([A-Za-z][A-Za-z0-9_]{0,49}-[1-9][0-9]{0,9})/?$")
FRESH_MS = 10 * 60_000
NOT_DONE = {"won't do", "won't fix", "duplicate", "cannot reproduce", "declined", "not a bug", "obsolete"}


def state_of(fields: Mapping[str, Any]) -> tuple[str, str]:
    status = fields.get("status") or {}
    category = str((status.get("statusCategory") or {}).get("key") or "")
    name = str(status.get("name") or category)
    resolution = str((fields.get("resolution") or {}).get("name") or "")
    if category == "done":
        if resolution.lower() in NOT_DONE:
            return CANCELED, f"{name} ({resolution})"
        return DONE, f"{name} ({resolution})" if resolution else name
    if category == "indeterminate":
        return STARTED, name
    return OPEN, name


class Jira:
    kind = "jira"
    label = "Jira"
    fields = (
        FormField(
            "site",
            "Jira site",
            placeholder="https://yourcompany.atlassian.net",
            secret=False,
        ),
        FormField(
            "email", "Account email", hint="The Atlassian account the API token belongs to.", secret=False
        ),
        FormField(
            "api_token",
            "API token",
            hint="id.atlassian.com → Security → API tokens. The account needs Browse projects on the "
            "projects you'll link.",
        ),
        FormField(
            "webhook_secret",
            "Webhook secret (optional)",
            hint="The secret you give the webhook (Jira settings → System → Webhooks). Without one, I "
            "check linked issues every few minutes instead.",
            optional=True,
        ),
    )

    def site(self, credentials: Mapping[str, str]) -> str:
        return http.check_base_url(credentials.get("site", ""), "site")

    def _get(self, credentials: Mapping[str, str], path: str):
        return http.request(
            "GET",
            self.site(credentials) + path,
            headers={"Accept": "application/json"},
            auth=(credentials.get("email", ""), credentials.get("api_token", "")),
            what="Jira",
            token_field="api_token",
        )

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        me = self._get(credentials, "/rest/api/3/myself").json() or {}
        return f"{me.get('displayName') or me.get('emailAddress') or '?'} on {http.host_of(self.site(credentials))}"

    def parse_issue_url(self, url: str) -> IssueRef | None:
        parts = urlsplit((url or "").strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return None
        found = _BROWSE.match(parts.path)
        key = found.group(1).upper() if found else ""
        if not key:  # a board's link: …/jira/software/projects/X/boards/1?selectedIssue=X-12
            match = re.search(
                r"(?:^|&)selectedIssue=([A-Za-z][A-Za-z0-9_]{0,49}-[1-9][0-9]{0,9})", parts.query
            )
            key = match.group(1).upper() if match else ""
        if not key:
            return None
        return IssueRef(self.kind, key, f"{parts.scheme}://{parts.netloc}/browse/{key}")

    def get_issue(self, credentials: Mapping[str, str], ref: IssueRef) -> Issue:
        data = (
            self._get(
                credentials, f"/rest/api/3/issue/{quote(ref.key)}?fields=summary,status,resolution"
            ).json()
            or {}
        )
        fields = data.get("fields") or {}
        state, words = state_of(fields)
        key = str(data.get("key") or ref.key)
        return Issue(
            self.kind,
            key,
            f"{self.site(credentials)}/browse/{key}",
            str(fields.get("summary") or ""),
            state,
            words,
        )

    def verify_webhook(
        self, credentials: Mapping[str, str], headers: Mapping[str, str], body: bytes, now: datetime
    ) -> str | None:
        problem = webhook_signature_problem(credentials, headers, body, "X-Hub-Signature", prefix="sha256=")
        if problem:
            return problem
        try:
            stamp = int(json.loads(body).get("timestamp"))
        except (ValueError, TypeError, AttributeError):
            return "no timestamp"
        if abs(now.timestamp() * 1000 - stamp) > FRESH_MS:
            return "stale timestamp (a replay?)"
        return None

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        payload = json.loads(body)
        issue = payload.get("issue") or {}
        delivery = header(headers, "X-Atlassian-Webhook-Identifier") or (
            f"{payload.get('timestamp', '')}:{issue.get('id', '')}"
        )
        if payload.get("webhookEvent") not in ("jira:issue_updated", "jira:issue_created"):
            return Delivery(delivery, None)
        key = str(issue.get("key") or "").upper()
        if not _KEY.match(key):
            return Delivery(delivery, None)
        api = urlsplit(str(issue.get("self") or ""))
        url = f"{api.scheme}://{api.netloc}/browse/{key}" if api.netloc else ""
        fields = issue.get("fields") or {}
        state, words = state_of(fields)
        return Delivery(
            delivery, IssueChange(self.kind, key, url, str(fields.get("summary") or ""), state, words)
        )


TRACKER = register(Jira())
