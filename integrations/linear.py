"""Linear: GraphQL over HTTP (`issue(id:)` takes the identifier, ENG-123) and `Issue` webhooks, signed with
Linear-Signature (hex HMAC-SHA256 of the body with the webhook's signing secret) and stamped with
`webhookTimestamp` (refused when more than a minute away from our clock, as Linear advises).

States follow the workflow state's type: started → started; completed → done; canceled (which includes
duplicates) → canceled; triage, backlog, unstarted → open.
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
    BadCredentials,
    Delivery,
    FormField,
    Issue,
    IssueChange,
    IssueRef,
    NotFound,
    RateLimited,
    ServiceError,
    header,
    register,
    webhook_signature_problem,
)

DEFAULT_API = "https://api.linear.app/graphql"
_PATH = re.compile(r"^/([A-Za-z0-9_-]{1,100})/issue/([A-Za-z][A-Za-z0-9]{0,19}-[1-9][0-9]{0,9})(/[^/]*)?/?$")
FRESH_MS = 60_000
TYPES = {"started": STARTED, "completed": DONE, "canceled": CANCELED}
ISSUE_QUERY = "query Issue($id: String!) { issue(id: $id) { id identifier title url state { name type } } }"


def state_of(state: Mapping[str, Any] | None) -> tuple[str, str]:
    state = state or {}
    return TYPES.get(str(state.get("type") or ""), OPEN), str(state.get("name") or state.get("type") or "")


class Linear:
    kind = "linear"
    label = "Linear"
    fields = (
        FormField(
            "api_key",
            "Personal API key",
            hint="Linear → Settings → Security & access → Personal API keys; read access is enough.",
            placeholder="lin_api_…",
        ),
        FormField(
            "webhook_secret",
            "Webhook signing secret (optional)",
            hint="Shown by Linear when you create the webhook (Settings → API → Webhooks). Without one, "
            "I check linked issues every few minutes instead.",
            optional=True,
        ),
    )

    def api(self) -> str:
        return (os.environ.get("PARTNERBOT_LINEAR_API_URL") or DEFAULT_API).rstrip("/")

    def _query(self, credentials: Mapping[str, str], query: str, variables: dict[str, Any]) -> dict:
        response = http.request(
            "POST",
            self.api(),
            headers={"Authorization": credentials.get("api_key", ""), "Content-Type": "application/json"},
            json={"query": query, "variables": variables},
            what="Linear",
            token_field="api_key",
            accept=(400,),
        )
        try:
            body = response.json() or {}
        except ValueError:
            raise ServiceError(
                f"Linear answered {response.status_code} with something other than JSON."
            ) from None
        errors = body.get("errors") or []
        if errors:
            codes = {str((e.get("extensions") or {}).get("code") or "") for e in errors}
            message = str(errors[0].get("message") or "")
            if "AUTHENTICATION_ERROR" in codes or "authenticat" in message.lower():
                raise BadCredentials(
                    "Linear refused the API key: check it was copied whole.", field="api_key"
                )
            if "RATELIMITED" in codes:
                raise RateLimited("Linear is rate-limiting us; try again later.")
            if "FORBIDDEN" in codes:
                raise BadCredentials(
                    "Linear says this API key may not read that (forbidden).", field="api_key"
                )
            if "not found" in message.lower() or "Entity not found" in message:
                raise NotFound("Linear has no such issue, or the key can't see it.")
            raise ServiceError(f"Linear said: {message[:200]}")
        if response.status_code != 200:
            raise ServiceError(f"Linear answered {response.status_code}.")
        return body.get("data") or {}

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        viewer = self._query(credentials, "query { viewer { id name email } }", {}).get("viewer") or {}
        return str(viewer.get("name") or viewer.get("email") or "?") + " on Linear"

    def parse_issue_url(self, url: str) -> IssueRef | None:
        parts = urlsplit((url or "").strip())
        if parts.scheme not in ("https", "http") or (parts.hostname or "") != "linear.app":
            return None
        found = _PATH.match(parts.path)
        if not found:
            return None
        workspace, identifier = found.group(1), found.group(2).upper()
        return IssueRef(self.kind, identifier, f"https://linear.app/{workspace}/issue/{identifier}")

    def get_issue(self, credentials: Mapping[str, str], ref: IssueRef) -> Issue:
        issue = self._query(credentials, ISSUE_QUERY, {"id": ref.key}).get("issue")
        if not issue:
            raise NotFound(f"Linear has no issue {ref.key}, or the key can't see it.")
        state, words = state_of(issue.get("state"))
        return Issue(
            self.kind,
            str(issue.get("identifier") or ref.key),
            str(issue.get("url") or ref.url),
            str(issue.get("title") or ""),
            state,
            words,
        )

    def verify_webhook(
        self, credentials: Mapping[str, str], headers: Mapping[str, str], body: bytes, now: datetime
    ) -> str | None:
        problem = webhook_signature_problem(credentials, headers, body, "Linear-Signature", any_case=True)
        if problem:
            return problem
        try:
            stamp = int(json.loads(body).get("webhookTimestamp"))
        except (ValueError, TypeError, AttributeError):
            return "no webhookTimestamp"
        if abs(now.timestamp() * 1000 - stamp) > FRESH_MS:
            return "stale webhookTimestamp (a replay?)"
        return None

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        payload = json.loads(body)
        delivery = header(headers, "Linear-Delivery") or (
            f"{payload.get('webhookId', '')}:{payload.get('webhookTimestamp', '')}"
        )
        data = payload.get("data") or {}
        if payload.get("type") != "Issue" or payload.get("action") not in ("create", "update"):
            return Delivery(delivery, None)
        identifier = str(data.get("identifier") or "")
        if not identifier or not data.get("state"):
            return Delivery(delivery, None)
        ref = self.parse_issue_url(str(data.get("url") or payload.get("url") or ""))
        state, words = state_of(data.get("state"))
        return Delivery(
            delivery,
            IssueChange(
                self.kind,
                identifier.upper(),
                ref.url if ref else str(data.get("url") or ""),
                str(data.get("title") or ""),
                state,
                words,
            ),
        )


TRACKER = register(Linear())
