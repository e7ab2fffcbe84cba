"""GitHub Issues: REST API (`GET /repos/{owner}/{repo}/issues/{number}`) and the `issues` webhook, signed
with X-Hub-Signature-256 (HMAC-SHA256 of the body with the webhook's secret).

States: closed as completed → done; closed as not planned or duplicate → canceled; open with an assignee
or an "in progress" label → started; otherwise open. GitHub's API base is https://api.github.com, or the
connection's own (GitHub Enterprise Server: https://HOST/api/v3), or PARTNERBOT_GITHUB_API_URL.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

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
    MissingScope,
    header,
    register,
    webhook_signature_problem,
)

DEFAULT_API = "https://api.github.com"
_PATH = re.compile(r"^/([A-Za-z0-9_.-]{1,100})/([A-Za-z0-9_.-]{1,100})/issues/([1-9][0-9]{0,9})/?$")
_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,100})/([A-Za-z0-9_.-]{1,100})#([1-9][0-9]{0,9})$")
STARTED_LABELS = {"in progress", "in-progress", "doing", "wip"}
# Actions of the `issues` event that can change what we show.
FOLLOWED = {"opened", "closed", "reopened", "assigned", "unassigned", "labeled", "unlabeled", "edited"}


def state_of(issue: Mapping[str, Any]) -> tuple[str, str]:
    """(state, GitHub's own words) of an issue object as the REST API and webhooks give it."""
    reason = str(issue.get("state_reason") or "")
    if issue.get("state") == "closed":
        if reason in ("not_planned", "duplicate"):
            return CANCELED, f"closed ({reason.replace('_', ' ')})"
        return DONE, "closed (completed)"
    labels = {str((lab or {}).get("name", "")).lower() for lab in issue.get("labels") or []}
    if issue.get("assignee") or issue.get("assignees") or labels & STARTED_LABELS:
        return STARTED, "open, in progress"
    return OPEN, "open"


class GitHub:
    kind = "github"
    label = "GitHub"
    fields = (
        FormField(
            "token",
            "Personal access token",
            hint="Fine-grained: Issues read-only (and Metadata) on the repositories you'll link. "
            "Classic: the repo scope.",
            placeholder="github_pat_… or ghp_…",
        ),
        FormField(
            "webhook_secret",
            "Webhook secret (optional)",
            hint="The secret you give the repository's or organisation's webhook (Settings → Webhooks). "
            "Without one, I check linked issues every few minutes instead.",
            optional=True,
        ),
        FormField(
            "api_url",
            "API address (optional)",
            hint="Only for GitHub Enterprise Server: https://HOST/api/v3",
            placeholder=DEFAULT_API,
            optional=True,
            secret=False,
        ),
    )

    def api(self, credentials: Mapping[str, str]) -> str:
        typed = (credentials.get("api_url") or "").strip()
        if typed:
            return http.check_base_url(typed, "api_url")
        return (os.environ.get("PARTNERBOT_GITHUB_API_URL") or DEFAULT_API).rstrip("/")

    def _get(self, credentials: Mapping[str, str], path: str):
        return http.request(
            "GET",
            self.api(credentials) + path,
            headers={
                "Authorization": f"Bearer {credentials.get('token', '')}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "partnerbot",
            },
            what="GitHub",
            token_field="token",
        )

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        response = self._get(credentials, "/user")
        scopes = response.headers.get("x-oauth-scopes")
        if scopes is not None:  # a classic token says what it may do; fine-grained ones don't
            have = {s.strip() for s in scopes.split(",") if s.strip()}
            if not have & {"repo", "public_repo"}:
                raise MissingScope(
                    f"The token is missing the repo scope (it has: {', '.join(sorted(have)) or 'none'}).",
                    field="token",
                )
        login = str((response.json() or {}).get("login") or "?")
        return f"{login} on {http.host_of(self.api(credentials))}"

    def parse_issue_url(self, url: str) -> IssueRef | None:
        parts = urlsplit((url or "").strip())
        if parts.scheme not in ("https", "http") or (parts.hostname or "") not in (
            "github.com",
            "www.github.com",
        ):
            return None
        found = _PATH.match(parts.path)
        if not found:
            return None
        owner, repo, number = found.groups()
        return IssueRef(
            self.kind, f"{owner}/{repo}#{number}", f"https://github.com/{owner}/{repo}/issues/{number}"
        )

    def get_issue(self, credentials: Mapping[str, str], ref: IssueRef) -> Issue:
        owner, repo, number = _KEY.match(ref.key).groups()
        data = self._get(credentials, f"/repos/{owner}/{repo}/issues/{number}").json() or {}
        state, words = state_of(data)
        return Issue(
            self.kind,
            ref.key,
            str(data.get("html_url") or ref.url),
            str(data.get("title") or ""),
            state,
            words,
        )

    def verify_webhook(
        self, credentials: Mapping[str, str], headers: Mapping[str, str], body: bytes, now: datetime
    ) -> str | None:
        return webhook_signature_problem(credentials, headers, body, "X-Hub-Signature-256", prefix="sha256=")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        delivery = header(headers, "X-GitHub-Delivery")
        payload = json.loads(body)
        if header(headers, "X-GitHub-Event") != "issues" or payload.get("action") not in FOLLOWED:
            return Delivery(delivery, None)
        issue = payload.get("issue") or {}
        ref = self.parse_issue_url(str(issue.get("html_url") or ""))
        if ref is None:
            full = str((payload.get("repository") or {}).get("full_name") or "")
            if not full or not issue.get("number"):
                return Delivery(delivery, None)
            ref = IssueRef(self.kind, f"{full}#{issue['number']}", str(issue.get("html_url") or ""))
        state, words = state_of(issue)
        return Delivery(
            delivery,
            IssueChange(self.kind, ref.key, ref.url, str(issue.get("title") or ""), state, words),
        )


TRACKER = register(GitHub())
