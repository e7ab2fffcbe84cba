"""The OAuth v2 install against the fake Slack, end to end through the gunicorn process: "Add to Slack"
(/slack/install, its state cookie), Slack's redirect back (/slack/oauth_redirect → oauth.v2.access), the
installation stored on the bot's own database, and then every call for that workspace made with its own
token: a listener's, the outbox's. Also an org-wide install, token rotation, and an uninstall parking the
workspace until its reinstall."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot import payloads
from bot.driver import HttpDriver
from storage.db import make_engine
from storage.models import Outbox, Workspace
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, cookie: str = "") -> tuple[int, dict, str]:
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with opener.open(request, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


@pytest.fixture
def oauth_server(tmp_path, fake_slack):
    url = f"sqlite:///{tmp_path / 'oauth.db'}"
    proc, base = start_server(
        url,
        fake_slack,
        tmp_path / "server.log",
        extra_env={"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "111.222", "SLACK_CLIENT_SECRET": "s3cret"},
    )
    engine = make_engine(url)
    try:
        yield SimpleNamespace(base=base, fake=fake_slack, engine=engine, log=tmp_path / "server.log")
    finally:
        stop_server(proc)
        engine.dispose()


def people_of(fake, team_id: str, enterprise_id: str = "", admin: str = "U0ADMIN", pm: str = "U0PM") -> None:
    """The installing organisation's admin and PM, as Slack knows them (so they are not external)."""
    fake.add_user(admin, name="Ada Admin", team_id=team_id, enterprise_id=enterprise_id)
    fake.add_user(pm, name="Pat", team_id=team_id, enterprise_id=enterprise_id)


def install(server, code: str) -> tuple[int, str]:
    status, headers, page = get(server.base + "/slack/install")
    assert status == 200, page
    state = re.search(r"state=([\w\-]+)", page)[1]
    assert "client_id=111.222" in page and "scope=commands" in page
    cookie = headers["set-cookie"].split(";")[0]
    assert state in cookie  # the state is bound to this browser
    status, _, page = get(f"{server.base}/slack/oauth_redirect?code={code}&state={state}", cookie)
    return status, page


def stored_bots(server) -> list[tuple]:
    with server.engine.connect() as conn:
        return list(
            conn.execute(text("SELECT team_id, enterprise_id, bot_token FROM slack_bots ORDER BY id"))
        )


def test_an_install_stores_the_workspaces_token_and_every_call_for_it_uses_that_token(oauth_server):
    fake = oauth_server.fake
    fake.add_install_code("code-new", team_id="T0NEWTEAM")
    people_of(fake, "T0NEWTEAM")
    status, page = install(oauth_server, "code-new")
    assert status == 200, page
    [(team, enterprise, token)] = stored_bots(oauth_server)
    assert (team, enterprise) == ("T0NEWTEAM", None) and token.startswith("xoxe.xoxb-")
    exchange = fake.calls_to("oauth.v2.access")[0]
    assert (exchange.args["client_id"], exchange.args["code"]) == ("111.222", "code-new")

    # A state used once, or forged, installs nothing more.
    fake.add_install_code("code-again", team_id="T0OTHER")
    status, _, _ = get(f"{oauth_server.base}/slack/oauth_redirect?code=code-again&state=forged")
    assert status != 200 and len(stored_bots(oauth_server)) == 1

    d = HttpDriver(oauth_server.base, fake, SIGNING_SECRET, team_id="T0NEWTEAM")
    reply = d.command("U0ADMIN", "/partnerbot", "pm add <@U0PM|pat> Reporting")
    assert "now a PM" in reply.text, reply.text
    welcome = fake.wait_for(lambda: fake.posts_to("U0PM"))  # through the outbox
    assert welcome[0].token == token
    assert {c.token for c in fake.calls_to("users.info")} == {token}
    deadline = time.monotonic() + 10  # the worker marks the row after Slack answered
    while time.monotonic() < deadline:
        with Session(oauth_server.engine) as s:
            statuses = s.exec(select(Outbox.status)).all()
        if statuses == ["sent"]:
            break
        time.sleep(0.05)
    assert statuses == ["sent"]


def test_an_unknown_workspace_gets_nothing_done(oauth_server):
    d = HttpDriver(oauth_server.base, oauth_server.fake, SIGNING_SECRET, team_id="T0NEVER")
    reply = d.command("U0ADMIN", "/partnerbot", "pm add <@U0PM|pat> Reporting")
    assert "now a PM" not in reply.text
    assert oauth_server.fake.posts_to("U0PM") == []


def test_an_org_wide_install_serves_every_workspace_of_the_org_with_one_token(oauth_server):
    fake = oauth_server.fake
    fake.add_install_code("code-org", enterprise_id="E0GRID", org_wide=True)
    people_of(fake, "T0GRIDWS", "E0GRID", admin="W0ADMIN", pm="W0PM")
    assert install(oauth_server, "code-org")[0] == 200
    [(team, enterprise, token)] = stored_bots(oauth_server)
    assert (team, enterprise) == (None, "E0GRID")
    d = HttpDriver(oauth_server.base, fake, SIGNING_SECRET, team_id="T0GRIDWS")
    body = payloads.slash_command(
        "/partnerbot",
        "pm add <@W0PM|pat> Reporting",
        user_id="W0ADMIN",
        team_id="T0GRIDWS",
        enterprise_id="E0GRID",
        response_url=fake.response_url(),
    ).replace("is_enterprise_install=false", "is_enterprise_install=true")
    reply = d._signed(body, "application/x-www-form-urlencoded")
    assert "now a PM" in reply.text, reply.text
    assert fake.wait_for(lambda: fake.posts_to("W0PM"))[0].token == token
    with Session(oauth_server.engine) as s:
        [workspace] = s.exec(select(Workspace)).all()
        assert (workspace.team_id, workspace.enterprise_id) == ("", "E0GRID")  # one installation


def test_a_token_near_its_expiry_is_rotated_before_use(oauth_server):
    fake = oauth_server.fake
    fake.add_install_code("code-short", team_id="T0ROT", expires_in=60)  # less than the rotation margin
    people_of(fake, "T0ROT")
    assert install(oauth_server, "code-short")[0] == 200
    [(_, _, first)] = stored_bots(oauth_server)
    d = HttpDriver(oauth_server.base, fake, SIGNING_SECRET, team_id="T0ROT")
    assert "now a PM" in d.command("U0ADMIN", "/partnerbot", "pm add <@U0PM|pat> Reporting").text
    refreshed = [c for c in fake.calls_to("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]
    assert refreshed
    [(_, _, now_stored)] = stored_bots(oauth_server)
    assert now_stored != first
    assert first not in {c.token for c in fake.calls_to("users.info")}


def test_an_uninstall_parks_the_workspace_and_the_reinstall_resumes_it(oauth_server):
    fake = oauth_server.fake
    fake.add_install_code("code-1", team_id="T0BACK")
    people_of(fake, "T0BACK")
    assert install(oauth_server, "code-1")[0] == 200
    d = HttpDriver(oauth_server.base, fake, SIGNING_SECRET, team_id="T0BACK")
    assert "now a PM" in d.command("U0ADMIN", "/partnerbot", "pm add <@U0PM|pat> Reporting").text
    fake.wait_for(lambda: fake.posts_to("U0PM"))
    d.event({"type": "app_uninstalled"})
    with Session(oauth_server.engine) as s:
        assert s.exec(select(Workspace.parked_reason)).all() == ["app_uninstalled"]
    assert stored_bots(oauth_server) == []  # its tokens are gone with it
    fake.add_install_code("code-2", team_id="T0BACK")
    assert install(oauth_server, "code-2")[0] == 200
    with Session(oauth_server.engine) as s:
        assert s.exec(select(Workspace.parked_at)).all() == [None]


def test_the_install_asks_for_the_manifests_scopes_and_redirect():
    import yaml

    from bot.oauth import BOT_SCOPES, REDIRECT_PATH
    from tests.e2e.conftest import ROOT

    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert set(BOT_SCOPES) == set(manifest["oauth_config"]["scopes"]["bot"])
    assert [u.endswith(REDIRECT_PATH) for u in manifest["oauth_config"]["redirect_urls"]] == [True]
    assert manifest["settings"]["org_deploy_enabled"] is True


def test_with_one_bot_token_there_is_no_install_page(server):
    status, _, _ = get(server.base + "/slack/install")
    assert status == 404
