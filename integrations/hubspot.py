"""HubSpot as a connection: a private app's access token, tested against the account-info API. What the
bot reads from the CRM builds on this connection (integrations/connections.py `credentials`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from integrations import http
from integrations.base import FormField, register

DEFAULT_API = "https://api.hubapi.com"


class HubSpot:
    kind = "hubspot"
    label = "HubSpot"
    fields = (
        FormField(
            "token",
            "Private app access token",
            hint="HubSpot → Settings → Integrations → Private apps; scope crm.objects.companies.read.",
            placeholder="pat-…",
        ),
    )

    def api(self) -> str:
        return (os.environ.get("PARTNERBOT_HUBSPOT_API_URL") or DEFAULT_API).rstrip("/")

    def test_connection(self, credentials: Mapping[str, str]) -> str:
        response = http.request(
            "GET",
            self.api() + "/account-info/v3/details",
            headers={"Authorization": f"Bearer {credentials.get('token', '')}"},
            what="HubSpot",
            token_field="token",
        )
        portal = (response.json() or {}).get("portalId")
        return f"HubSpot account {portal}" if portal else "HubSpot"


SERVICE = register(HubSpot())
