"""Each tracker module on its own: issue URLs read, issues fetched from a local fake of its API, webhooks
verified (valid, forged, stale) and read into state changes, in the shapes each service documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations import base
from tests.integrations.fake_trackers import github_webhook, jira_webhook, linear_webhook

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.fixture(autouse=True)
def _apis(monkeypatch, trackers):
    monkeypatch.setenv("PARTNERBOT_LINEAR_API_URL", trackers.base + "/graphql")
    monkeypatch.setenv("PARTNERBOT_GITHUB_API_URL", trackers.base)


@pytest.mark.parametrize(
    ("url", "kind", "key"),
    [
        ("https://github.com/acme/app/issues/12", "github", "acme/app#12"),
        ("https://github.com/acme/app.js/issues/3/", "github", "acme/app.js#3"),
        ("https://linear.app/acme/issue/ENG-123/dark-mode", "linear", "ENG-123"),
        ("https://linear.app/acme/issue/eng-9", "linear", "ENG-9"),
        ("https://acme.atlassian.net/browse/OPS-7", "jira", "OPS-7"),
        (
            "https://acme.atlassian.net/jira/software/projects/OPS/boards/1?selectedIssue=OPS-8",
            "jira",
            "OPS-8",
        ),
    ],
)
def test_issue_urls_are_read_by_their_own_tracker_only(url, kind, key):
    refs = {t.kind: t.parse_issue_url(url) for t in base.trackers()}
    assert refs.pop(kind).key == key
    assert set(refs.values()) == {None}


@pytest.mark.parametrize(
    "url",
    [
        "",
        "github.com/acme/app/issues/1",
        "https://github.com/acme/app/pull/4",
        "https://github.com/acme/app/issues/0",
        "javascript:alert(1)",
        "https://evil.example/acme/app/issues/1",
        "https://linear.app/acme/project/x",
    ],
)
def test_what_is_not_an_issue_url_is_nobodys(url):
    assert [t.kind for t in base.trackers() if t.parse_issue_url(url)] == []


def test_github_issue_states(trackers):
    gh = base.tracker("github")
    trackers.github_tokens["t"] = "repo"
    creds = {"token": "t"}
    ref = gh.parse_issue_url("https://github.com/acme/app/issues/5")
    trackers.github_issue("acme", "app", 5, "Export")
    assert gh.get_issue(creds, ref).state == base.OPEN
    trackers.github_issue("acme", "app", 5, "Export", assignee="dev")
    assert gh.get_issue(creds, ref).state == base.STARTED
    trackers.github_issue("acme", "app", 5, "Export", state="closed", reason="completed")
    assert (gh.get_issue(creds, ref).state, gh.get_issue(creds, ref).title) == (base.DONE, "Export")
    trackers.github_issue("acme", "app", 5, "Export", state="closed", reason="not_planned")
    assert gh.get_issue(creds, ref).state == base.CANCELED
    with pytest.raises(base.NotFound):
        gh.get_issue(creds, gh.parse_issue_url("https://github.com/acme/app/issues/6"))


def test_github_webhooks(trackers):
    gh = base.tracker("github")
    creds = {"token": "t", "webhook_secret": "s"}
    issue = trackers.github_issue("acme", "app", 5, "Export", state="closed", reason="completed")
    headers, body = github_webhook("s", "closed", issue, delivery="abc")
    assert gh.verify_webhook(creds, headers, body, NOW) is None
    assert gh.verify_webhook({**creds, "webhook_secret": "other"}, headers, body, NOW) == "signature mismatch"
    assert gh.verify_webhook(creds, headers, body + b" ", NOW) == "signature mismatch"
    assert gh.verify_webhook({"token": "t"}, headers, body, NOW)  # no secret: never accepted
    delivery = gh.parse_webhook(headers, body)
    assert delivery.delivery_id == "abc"
    assert (delivery.change.key, delivery.change.state) == ("acme/app#5", base.DONE)
    headers, body = github_webhook("s", "closed", {**issue, "state_reason": "not_planned"})
    assert gh.parse_webhook(headers, body).change.state == base.CANCELED
    headers, body = github_webhook("s", "opened", {**issue, "state": "open", "state_reason": None})
    assert gh.parse_webhook(headers, body).change.state == base.OPEN
    assert gh.parse_webhook({**headers, "X-GitHub-Event": "ping"}, body).change is None


def test_linear_issue_and_webhooks(trackers):
    linear = base.tracker("linear")
    trackers.linear_keys["k"] = "Pat"
    issue = trackers.linear_issue("ENG-4", "Dark mode", state_type="started", name="In Progress")
    ref = linear.parse_issue_url(issue["url"])
    got = linear.get_issue({"api_key": "k"}, ref)
    assert (got.key, got.state, got.state_label, got.title) == (
        "ENG-4",
        base.STARTED,
        "In Progress",
        "Dark mode",
    )
    with pytest.raises(base.NotFound):
        linear.get_issue({"api_key": "k"}, linear.parse_issue_url("https://linear.app/acme/issue/ENG-5"))
    creds = {"api_key": "k", "webhook_secret": "s"}
    for state_type, expected in (
        ("started", base.STARTED),
        ("completed", base.DONE),
        ("canceled", base.CANCELED),
        ("backlog", base.OPEN),
    ):
        headers, body = linear_webhook(
            "s", {**issue, "state": {"name": "x", "type": state_type}}, at_ms=NOW_MS
        )
        assert linear.verify_webhook(creds, headers, body, NOW) is None
        assert linear.parse_webhook(headers, body).change.state == expected
    headers, body = linear_webhook("s", issue, at_ms=NOW_MS - 61_000)
    assert "stale" in linear.verify_webhook(creds, headers, body, NOW)
    headers, body = linear_webhook("forged", issue, at_ms=NOW_MS)
    assert linear.verify_webhook(creds, headers, body, NOW) == "signature mismatch"


def test_jira_issue_and_webhooks(trackers):
    jira = base.tracker("jira")
    trackers.jira_users[("a@b.c", "t")] = "Pat"
    creds = {"site": trackers.base, "email": "a@b.c", "api_token": "t", "webhook_secret": "s"}
    cases = [
        ("new", "To Do", "", base.OPEN),
        ("indeterminate", "In Progress", "", base.STARTED),
        ("done", "Done", "Done", base.DONE),
        ("done", "Closed", "Won't Do", base.CANCELED),
        ("done", "Closed", "Duplicate", base.CANCELED),
    ]
    for category, name, resolution, expected in cases:
        issue = trackers.jira_issue("OPS-1", "Audit", category=category, name=name, resolution=resolution)
        got = jira.get_issue(creds, jira.parse_issue_url(f"{trackers.base}/browse/OPS-1"))
        assert got.state == expected and got.url == f"{trackers.base}/browse/OPS-1"
        headers, body = jira_webhook("s", issue, at_ms=NOW_MS, delivery="77")
        assert jira.verify_webhook(creds, headers, body, NOW) is None
        delivery = jira.parse_webhook(headers, body)
        assert (delivery.delivery_id, delivery.change.key, delivery.change.state) == ("77", "OPS-1", expected)
    headers, body = jira_webhook("s", issue, at_ms=NOW_MS - 11 * 60_000)
    assert "stale" in jira.verify_webhook(creds, headers, body, NOW)
    headers, body = jira_webhook("x", issue, at_ms=NOW_MS)
    assert jira.verify_webhook(creds, headers, body, NOW) == "signature mismatch"
    with pytest.raises(base.NotFound):
        jira.get_issue(creds, jira.parse_issue_url(f"{trackers.base}/browse/OPS-404"))
