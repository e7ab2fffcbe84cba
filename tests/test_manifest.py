"""The manifest a new user pastes declares exactly the commands, shortcuts and events the app handles."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _registered(kind: str) -> set[str]:
    found = set()
    for path in (ROOT / "handlers").rglob("__init__.py"):
        found |= set(re.findall(rf'app\.{kind}\("([^"]+)"\)', path.read_text()))
    return found


def test_manifest_matches_the_listeners():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    features = manifest["features"]
    assert {c["command"] for c in features["slash_commands"]} == _registered("command")
    assert {s["callback_id"] for s in features["shortcuts"] if s["type"] == "message"} == _registered(
        "message_shortcut"
    )
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == _registered("event")
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert all(c["should_escape"] for c in features["slash_commands"])  # mentions arrive as <@U…|name>
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "im:write", "mpim:write", "users:read", "reactions:read"} <= scopes
