"""The PM's "Merge into…" typeahead (handlers/views/suggestions.py) on the full-text index: words find the
source's own area's requests (shipped ones too, never merged ones, never the request itself); a number or a
typo still works as before."""

from __future__ import annotations

import json

from bot.fake_slack import TEAM_ID
from handlers.views.decision_modals import MERGE_TARGET_ACTION
from storage import decisions, people
from storage import requests as store
from storage.db import session_scope


def test_merge_typeahead_uses_the_index_and_keeps_its_rules(bolt):
    with session_scope(bolt.deps.engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        pm = people.ensure_person(session=s, workspace=ws, slack_user_id="UPM")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Identity", pm=pm)
        elsewhere = people.ensure_area(session=s, workspace_id=ws.id, name="Billing", pm=pm)

        def make(title, where=area, phrasing=""):
            request = store.create_request(session=s, workspace_id=ws.id, area_id=where.id, title=title)
            for text in filter(None, [title, phrasing]):
                store.record_occurrence(session=s, request=request, logged_by_id=pm.id, text=text)
            return request

        source = make("Okta login for contractors")
        target = make("SAML SSO with Okta", phrasing="single sign-on through their identity provider")
        shipped = make("Okta group sync")
        decisions.set_status(session=s, request=shipped, status="shipped", by=pm)
        gone = make("Okta MFA prompts")
        decisions.merge_requests(session=s, source=gone, target=target, by=pm)
        other_area = make("Okta billing contacts", where=elsewhere)
        for i in range(30):
            make(f"Audit log filter {i}")
        ids = dict(source=source.id, target=target.id, shipped=shipped.id, gone=gone.id, other=other_area.id)
    view = {
        "id": "VMERGE",
        "callback_id": "merge_request",
        "private_metadata": json.dumps({"r": ids["source"]}),
        "blocks": [
            {
                "type": "input",
                "block_id": "target",
                "element": {"type": "external_select", "action_id": MERGE_TARGET_ACTION},
            }
        ],
    }

    def offered(typed):
        return [int(o["value"]) for o in bolt.driver.suggest("UPM", view, "target", typed)]

    okta = offered("okt")
    assert ids["target"] in okta and ids["shipped"] in okta
    assert ids["source"] not in okta and ids["gone"] not in okta and ids["other"] not in okta
    assert offered("identity provider") == [ids["target"]]  # a confirmed phrasing
    assert offered("otka sso") == [ids["target"]]  # a typo: the fuzzy match over the area, as before
    assert offered(f"#{ids['target']}")[0] == ids["target"]
    options = bolt.driver.suggest("UPM", view, "target", "saml")
    assert options[0]["text"]["text"] == f"#{ids['target']} SAML SSO with Okta (3×)"
