"""Connections: credentials encrypted at rest under PARTNERBOT_SECRET_KEY, one per workspace and kind, and
nothing connectable without a key (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlmodel import Session

from integrations import connections
from storage import people


def workspace(session, team="T1"):
    ws = people.ensure_workspace(session=session, team_id=team)
    admin = people.ensure_person(session=session, workspace=ws, slack_user_id="UADMIN", name="Admin")
    return ws, admin


def test_credentials_are_encrypted_at_rest_and_read_back(engine, secret_key):
    with Session(engine) as s:
        ws, admin = workspace(s)
        connections.save_connection(
            s,
            workspace_id=ws.id,
            kind="github",
            credentials={"token": "ghp_supersecret123", "webhook_secret": "hook-secret"},
            by_user_id=admin.id,
        )
        s.commit()
        raw = s.exec(text("SELECT credentials FROM connection")).one()[0]
        assert "ghp_supersecret123" not in raw and "hook-secret" not in raw
        assert Fernet(secret_key.encode()).decrypt(raw.encode())  # a real Fernet token
        assert connections.credentials(s, workspace_id=ws.id, kind="github") == {
            "token": "ghp_supersecret123",
            "webhook_secret": "hook-secret",
        }
        assert connections.credentials(s, workspace_id=ws.id, kind="jira") is None
        assert connections.connected_kinds(s, workspace_id=ws.id) == ["github"]


def test_one_connection_per_kind_reconnecting_replaces_it_and_workspaces_stay_apart(engine, secret_key):
    with Session(engine) as s:
        ws, admin = workspace(s)
        other, other_admin = workspace(s, "T2")
        for token in ("one", "two"):
            connections.save_connection(
                s, workspace_id=ws.id, kind="linear", credentials={"api_key": token}, by_user_id=admin.id
            )
        connections.save_connection(
            s, workspace_id=ws.id, kind="jira", credentials={"api_token": "j"}, by_user_id=admin.id
        )
        s.commit()
        assert s.exec(text("SELECT count(*) FROM connection WHERE kind = 'linear'")).one()[0] == 1
        assert connections.credentials(s, workspace_id=ws.id, kind="linear") == {"api_key": "two"}
        assert connections.connected_kinds(s, workspace_id=ws.id) == ["jira", "linear"]
        assert connections.credentials(s, workspace_id=other.id, kind="linear") is None
        assert connections.remove_connection(s, workspace_id=ws.id, kind="linear") is True
        assert connections.remove_connection(s, workspace_id=ws.id, kind="linear") is False
        s.commit()
        assert connections.connected_kinds(s, workspace_id=ws.id) == ["jira"]
        with pytest.raises(ValueError):
            connections.save_connection(s, workspace_id=ws.id, kind="asana", credentials={}, by_user_id=None)


def test_without_a_key_nothing_is_stored_and_the_reason_is_one_line(engine, monkeypatch):
    monkeypatch.delenv("PARTNERBOT_SECRET_KEY", raising=False)
    assert connections.key_problem() == connections.NO_KEY and "\n" not in connections.NO_KEY
    with Session(engine) as s:
        ws, admin = workspace(s)
        with pytest.raises(connections.SecretKeyMissing):
            connections.save_connection(
                s, workspace_id=ws.id, kind="github", credentials={"token": "x"}, by_user_id=admin.id
            )
        s.commit()
        assert connections.connected_kinds(s, workspace_id=ws.id) == []
    monkeypatch.setenv("PARTNERBOT_SECRET_KEY", "not-a-key")
    assert connections.key_problem() == connections.BAD_KEY


def test_a_changed_key_reads_nothing_and_rotation_keeps_old_rows_readable(engine, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("PARTNERBOT_SECRET_KEY", old)
    with Session(engine) as s:
        ws, admin = workspace(s)
        connections.save_connection(
            s, workspace_id=ws.id, kind="github", credentials={"token": "t"}, by_user_id=admin.id
        )
        s.commit()
        monkeypatch.setenv("PARTNERBOT_SECRET_KEY", new)
        assert connections.credentials(s, workspace_id=ws.id, kind="github") is None  # never sent anywhere
        monkeypatch.setenv("PARTNERBOT_SECRET_KEY", f"{new},{old}")
        assert connections.credentials(s, workspace_id=ws.id, kind="github") == {"token": "t"}
        assert connections.rotate(s) == 1
        s.commit()
        monkeypatch.setenv("PARTNERBOT_SECRET_KEY", new)
        assert connections.credentials(s, workspace_id=ws.id, kind="github") == {"token": "t"}


def test_a_long_secret_that_is_not_a_fernet_key_is_stretched_into_one(engine, monkeypatch):
    monkeypatch.setenv("PARTNERBOT_SECRET_KEY", "ab" * 32)  # what Heroku's `generator: secret` makes
    assert connections.key_problem() is None
    with Session(engine) as s:
        ws, admin = workspace(s)
        connections.save_connection(
            s, workspace_id=ws.id, kind="hubspot", credentials={"token": "pat-1"}, by_user_id=admin.id
        )
        s.commit()
        assert connections.credentials(s, workspace_id=ws.id, kind="hubspot") == {"token": "pat-1"}
