"""Each tracker's test of an admin's credentials, against a local fake of its API: what is wrong is named in
one line (bad token, missing scope, unreachable host, timeout, rate limit), next to the field to fix."""

from __future__ import annotations

import time

import pytest

from integrations import base
from tests.e2e.conftest import free_port


@pytest.fixture(autouse=True)
def _apis(monkeypatch, trackers):
    monkeypatch.setenv("PARTNERBOT_LINEAR_API_URL", trackers.base + "/graphql")
    monkeypatch.setenv("PARTNERBOT_GITHUB_API_URL", trackers.base)


def test_github_token_checks(trackers):
    gh = base.service("github")
    trackers.github_tokens.update({"good": "repo, read:org", "fine": None, "narrow": "read:user"})
    assert gh.test_connection({"token": "good"}) == f"octo-pm on {trackers.base.split('//')[1]}"
    assert gh.test_connection({"token": "fine"}).startswith("octo-pm")
    with pytest.raises(base.BadCredentials) as bad:
        gh.test_connection({"token": "wrong"})
    assert bad.value.field == "token" and "refused the token" in str(bad.value)
    with pytest.raises(base.MissingScope) as scope:
        gh.test_connection({"token": "narrow"})
    assert (
        scope.value.field == "token" and "repo scope" in str(scope.value) and "read:user" in str(scope.value)
    )
    assert trackers.calls_to("/user")[0].headers["authorization"] == "Bearer good"


def test_linear_and_jira_key_checks(trackers):
    trackers.linear_keys["lin_api_ok"] = "Pat PM"
    trackers.jira_users[("pm@example.com", "tok")] = "Pat Jira"
    linear, jira = base.service("linear"), base.service("jira")
    assert linear.test_connection({"api_key": "lin_api_ok"}) == "Pat PM on Linear"
    with pytest.raises(base.BadCredentials) as bad:
        linear.test_connection({"api_key": "nope"})
    assert bad.value.field == "api_key"
    creds = {"site": trackers.base, "email": "pm@example.com", "api_token": "tok"}
    assert jira.test_connection(creds).startswith("Pat Jira on 127.0.0.1")
    with pytest.raises(base.BadCredentials) as bad:
        jira.test_connection({**creds, "api_token": "bad"})
    assert bad.value.field == "api_token"
    with pytest.raises(base.ServiceError) as site:
        jira.test_connection({**creds, "site": "ftp://example.com"})
    assert site.value.field == "site" and "https://" in str(site.value)


def test_unreachable_slow_failing_and_rate_limited_services_are_named_in_one_line(trackers, monkeypatch):
    gh = base.service("github")
    trackers.github_tokens["good"] = "repo"
    with pytest.raises(base.Unreachable) as down:
        gh.test_connection({"token": "good", "api_url": f"http://127.0.0.1:{free_port()}"})
    assert "Can't reach 127.0.0.1" in str(down.value)
    monkeypatch.setenv("PARTNERBOT_INTEGRATION_TIMEOUT", "0.3")
    trackers.delay = 1.0
    started = time.monotonic()
    with pytest.raises(base.TimedOut) as slow:
        gh.test_connection({"token": "good"})
    assert time.monotonic() - started < 0.9 and "within 0.3 s" in str(slow.value)
    trackers.delay, trackers.trickle = 0, 0.05  # each byte within the read timeout, the whole far over it
    started = time.monotonic()
    with pytest.raises(base.TimedOut):
        gh.test_connection({"token": "good"})
    assert time.monotonic() - started < 0.9
    trackers.trickle = 0
    trackers.fail_status = 429
    with pytest.raises(base.RateLimited) as limited:
        gh.test_connection({"token": "good"})
    assert "rate-limiting us for 30 s" in str(limited.value)
    trackers.fail_status = 500
    with pytest.raises(base.Unreachable) as broken:
        base.service("linear").test_connection({"api_key": "x"})
    assert "having trouble (it answered 500)" in str(broken.value)
    monkeypatch.setenv("PARTNERBOT_INTEGRATION_TIMEOUT", "30")
    from integrations import http

    assert http.timeout() == http.FORM_TIMEOUT  # never more than a form can wait
