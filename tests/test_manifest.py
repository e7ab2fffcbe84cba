"""The manifest a new user pastes declares exactly the commands, shortcuts and events the app handles."""

from collections import defaultdict
from pathlib import Path

import yaml

from handlers import register_listeners

ROOT = Path(__file__).resolve().parents[1]


class RecordingApp:
    """Stands in for Bolt's App during registration and remembers what each listener is for."""

    def __init__(self) -> None:
        self.registered: dict[str, set[str]] = defaultdict(set)

    def __getattr__(self, kind: str):
        def register(constraint, *args, **kwargs):
            self.registered[kind].add(constraint if isinstance(constraint, str) else repr(constraint))
            return lambda listener, *a, **k: listener

        return register


def test_manifest_matches_the_listeners():
    app = RecordingApp()
    register_listeners(app)
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    features = manifest["features"]
    assert {c["command"] for c in features["slash_commands"]} == app.registered["command"]
    assert {s["callback_id"] for s in features["shortcuts"] if s["type"] == "message"} == app.registered[
        "message_shortcut"
    ]
    # `message.im` is Slack's subscription for the DMs the "message" listener answers.
    events = {e.split(".")[0] for e in manifest["settings"]["event_subscriptions"]["bot_events"]}
    assert events == app.registered["event"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert all(c["should_escape"] for c in features["slash_commands"])  # mentions arrive as <@U…|name>
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "im:write", "mpim:write", "users:read", "reactions:read"} <= scopes


def test_manifest_enables_home_messages_and_what_they_need():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False  # people can write to the bot
    settings = manifest["settings"]
    assert {"app_home_opened", "message.im"} <= set(settings["event_subscriptions"]["bot_events"])
    assert {"files:write", "im:history"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    # The typeaheads' options are asked for at this URL; without it Slack shows an empty menu.
    assert settings["interactivity"]["message_menu_options_url"] == settings["interactivity"]["request_url"]
