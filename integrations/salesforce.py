"""Salesforce as a connection: the org's address and an access token, tested against the REST API's
limits resource. What the bot reads from the CRM builds on this connection."""

from __future__ import annotations

from collections.abc import Mapping

from integrations import http
from integrations.base import FormField, register

API_VERSION = "v60.0"


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
            hint="From a connected app with the api scope (the integration user's session or OAuth token).",
        ),
    )

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        base = http.check_base_url(credentials.get("instance_url", ""), "instance_url")
        http.request(
            "GET",
            f"{base}/services/data/{API_VERSION}/limits",
            headers={"Authorization": f"Bearer {credentials.get('access_token', '')}"},
            what="Salesforce",
            token_field="access_token",
        )
        return f"Salesforce at {http.host_of(base)}"


SERVICE = register(Salesforce())
