"""The local shell: use Partnerbot in a terminal, with no Slack workspace (`python -m bot shell`).

The very same Bolt app runs in-process against the fake Slack Web API (bot.fake_slack) on the SQLite file
(or `--db URL`). You type as a chosen user; everything the bot sends is printed as text, buttons are
numbered, and modals are filled field by field.

    python -m bot shell [--as NAME] [--tz ZONE] [--db URL] [--team TEAM_ID] [--script FILE]

What you can type at the `name>` prompt:

    /request CSV export for Acme     a slash command (`@name` becomes a Slack mention, as in Slack)
    :shortcut <text>                 you post <text> in #general, then use "Log as request" on it
    :click N                         click button [N] of the latest output
    :as NAME                         act as another user (names map to ids: dana -> UDANA)
    :messages                        recent messages to you (DMs and #general), buttons renumbered
    :home                            your App Home tab as text; its charts saved as PNG files
    :dm <text>                       write to the bot (its Messages tab)
    :views                           show the open modal again (and fill it in)
    :time +7d | +3h | +30m           move the clock forward; due digests, agendas and DMs go out
    :help, :quit

When a modal opens, each input is asked in turn. Enter keeps the value in [brackets] (or leaves the
field empty); `-` clears a prefilled value; a line ending in `\\` continues on the next line (multi-line
fields); choices take a number (`2`), checkboxes comma-separated numbers (`1,3`). At any field,
`:submit` submits with the rest left as they are and `:cancel` closes the modal (the bot is told).
If the bot rejects an answer, the error is printed beside the field and only those fields are asked again.

Scripts: when stdin is not a terminal (or with `--script FILE`) lines are read from it, and each is
echoed after its prompt, so the output reads like a session. Answers to a modal's fields are simply the
lines that follow the command that opened it, one per field, in the order the fields are asked (an empty
line keeps the default; `:submit` ends the form early). For the request form:

    /request CSV export for Acme
                        <- What does the customer need? (empty: keep "CSV export for Acme")
    Acme Corp           <- Customer / account
    40 grand            <- Money involved
    2                   <- How often? (2 = a few times a month)
    :submit             <- log it with the rest skipped
    $40k                <- the bot rejected "40 grand": only that field is asked again
    :time +1h           <- the follow-up DM with the skipped questions arrives
    :click 2            <- answer one with a button

Blank lines and lines starting with `#` outside a modal are skipped. End of input ends the session.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import html
import logging
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from bot.driver import Driver, Reply
from bot.fake_slack import TEAM_ID, Call, FakeSlack
from bot.settings import Settings
from storage.db import check_url

BOT_TOKEN = "xoxb-shell"
SIGNING_SECRET = "shell-signing-secret"
GENERAL = "C0GENERAL"
CHANNEL_NAMES = {GENERAL: "general"}
QUIET_METHODS = {
    "auth.test",
    "users.info",
    "conversations.open",
    "conversations.history",
    "conversations.replies",
    "chat.getPermalink",
}
EMOJI = {
    "white_check_mark": "✅",
    "warning": "⚠️",
    "memo": "📝",
    "tada": "🎉",
    "x": "❌",
    "wave": "👋",
    "moneybag": "💰",
    "rotating_light": "🚨",
    "calendar": "📅",
    "spiral_calendar_pad": "🗓️",
    "hourglass_flowing_sand": "⏳",
    "pushpin": "📌",
    "bar_chart": "📊",
    "hourglass": "⌛",
    "twisted_rightwards_arrows": "🔀",
    "speech_balloon": "💬",
    "handshake": "🤝",
    "eyes": "👀",
    "arrows_counterclockwise": "🔄",
}
# How far the shell's clock moves between runs of the scheduler when time is advanced.
SHELL_CLOCK_STEP = timedelta(hours=3)  # well inside the 24 h a missed digest is still sent
SHELL_CLOCK_MOST = timedelta(days=366)
TIME_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
HELP = """\
  /command text        run a slash command: /request <text>, /request help, /focus, /partnerbot help,
                       /partnerbot pm add @name Area, /threshold, /digest, /oneonone, /agenda
  :shortcut <text>     post <text> in #general as yourself and use "Log as request" on it
  :click N             click button [N] shown in the latest output
  :as NAME             act as someone else (e.g. :as pat)
  :messages            recent messages to you (DMs and #general)
  :home                open your Home tab (charts are written to PNG files; their paths are printed)
  :dm <text>           write to the bot in its Messages tab
  :views               show the open modal again
  :time +7d|+3h|+30m   move the clock forward (scheduled messages go out)
  :quit                leave (end of input works too)
In a modal: Enter keeps [the default], '-' clears it, ':submit' sends it now, ':cancel' closes it."""


class EndOfInput(Exception):
    """stdin ran out (or the user pressed Ctrl-D)."""


class Cancelled(Exception):
    """The user typed :cancel in a modal."""


class SubmitNow(Exception):
    """The user typed :submit in a modal."""


# -- names and ids ---------------------------------------------------------------------------------
def user_id_for(name: str) -> str:
    """dana -> UDANA; a Slack-style id (U012ABC, W012ABC) stays as it is."""
    name = name.strip().lstrip("@")
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9]", "", name).upper()
    return "U" + (cleaned or "YOU")


def local_tz() -> str:
    """The machine's IANA time zone name, or UTC when it can't be found."""
    from zoneinfo import ZoneInfo

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
            return name
        except Exception:
            continue
    return "UTC"


def parse_delta(text: str) -> timedelta:
    """'+7d', '3h', '+1h30m', '+2w' -> timedelta; ValueError otherwise."""
    text = text.strip().lstrip("+").replace(" ", "")
    parts = re.findall(r"(\d+(?:\.\d+)?)([wdhms])", text.lower())
    if not text or not parts or "".join(n + u for n, u in parts) != text.lower():
        raise ValueError(text)
    delta = timedelta()
    for number, unit in parts:
        delta += timedelta(**{TIME_UNITS[unit]: float(number)})
    return delta


# -- rendering -------------------------------------------------------------------------------------
class Names:
    """Display names for user ids, so `<@UDANA>` prints as @dana."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.by_id: dict[str, str] = {}

    def register(self, name: str, tz: str) -> str:
        uid = user_id_for(name)
        if uid not in self.by_id:
            display = name.strip().lstrip("@") if uid != name.strip().lstrip("@") else uid.lower()
            self.by_id[uid] = display
            self.fake.add_user(uid, name=display, tz=tz)
        return uid

    def of(self, uid: str) -> str:
        return self.by_id.get(uid) or self.fake.user(uid)["name"]


def mrkdwn(text: str, names: Names) -> str:
    """Slack's markup made readable: mentions, links and escapes; *bold* and _italics_ are kept."""

    def link(m: re.Match[str]) -> str:
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or names.of(target[1:]))
        if target.startswith("#"):
            return "#" + (label or CHANNEL_NAMES.get(target[1:], target[1:]))
        if target.startswith("!"):
            special = target[1:].split("^")[0]
            return label or ("@" + special if special in ("channel", "here", "everyone") else special)
        return f"{label} ({target})" if label and label != target else target

    text = re.sub(r"<([^<>\s][^<>]*)>", link, text)
    text = re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return html.unescape(text)


def text_of(obj: Any, names: Names) -> str:
    if not isinstance(obj, dict):
        return str(obj or "")
    text = obj.get("text") or ""
    if isinstance(text, dict):
        return text_of(text, names)
    return mrkdwn(text, names) if obj.get("type") != "plain_text" else text


def indent(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line if line else prefix.rstrip() for line in text.split("\n")]


def _rich_text(element: Any) -> str:
    if isinstance(element, dict):
        if element.get("type") == "text":
            return element.get("text", "")
        if element.get("type") == "link":
            return element.get("text") or element.get("url", "")
        return "".join(_rich_text(e) for e in element.get("elements", []))
    return ""


@dataclasses.dataclass
class Clickable:
    button: dict[str, Any]
    channel: str = ""
    message: dict[str, Any] | None = None
    view: dict[str, Any] | None = None


class Screen:
    """Prints what the bot shows and numbers the buttons, so `:click N` knows what [N] is."""

    def __init__(self, out: IO[str], names: Names) -> None:
        self.out = out
        self.names = names
        self.buttons: list[Clickable] = []
        self.files: dict[str, str] = {}  # uploaded file id -> where the shell saved it
        self._fresh: list[Clickable] | None = None

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    # Buttons shown in one step replace the previous numbering; steps showing none keep it.
    def begin(self) -> None:
        self._fresh = []

    def end(self) -> None:
        if self._fresh:
            self.buttons = self._fresh
        self._fresh = None

    def _number(self, clickable: Clickable) -> int:
        if self._fresh is None:
            self.buttons = []
            self._fresh = self.buttons
        self._fresh.append(clickable)
        return len(self._fresh)

    def _button_label(self, element: dict[str, Any], where: Clickable) -> str:
        label = text_of(element.get("text"), self.names) or element.get("action_id", "button")
        n = self._number(dataclasses.replace(where, button=element))
        url = f" ({element['url']})" if element.get("url") else ""
        return f"[{n}] {label}{url}"

    def blocks(self, blocks: list[dict[str, Any]], where: Clickable, prefix: str = "  ") -> list[str]:
        lines: list[str] = []
        for block in blocks or []:
            kind = block.get("type")
            if kind == "input":
                continue
            if kind == "header":
                lines.append(f"{prefix}== {text_of(block.get('text'), self.names)} ==")
            elif kind == "divider":
                lines.append(prefix + "-" * 40)
            elif kind == "section":
                if block.get("text"):
                    lines += indent(text_of(block["text"], self.names), prefix)
                for f in block.get("fields") or []:
                    lines += indent(text_of(f, self.names), prefix + "  ")
                accessory = block.get("accessory") or {}
                if accessory.get("type") == "button":
                    element = {**accessory, "block_id": block.get("block_id", "")}
                    lines.append(prefix + "  " + self._button_label(element, where))
                elif accessory:
                    lines.append(
                        prefix + f"  (a {accessory.get('type', 'menu')} — not clickable in the shell)"
                    )
            elif kind == "context":
                parts = [text_of(e, self.names) for e in block.get("elements", []) if e.get("text")]
                if parts:
                    lines += indent(" · ".join(parts), prefix + "  ")
            elif kind == "actions":
                labels = []
                for element in block.get("elements", []):
                    if element.get("type") == "button":
                        element = {**element, "block_id": block.get("block_id", "")}
                        labels.append(self._button_label(element, where))
                    else:
                        labels.append(f"(a {element.get('type', 'menu')})")
                lines.append(prefix + "  " + "  ".join(labels))
            elif kind == "rich_text":
                lines += indent(_rich_text(block), prefix)
            elif kind == "image":
                file_id = (block.get("slack_file") or {}).get("id", "")
                saved = f" — {self.files[file_id]}" if file_id in self.files else ""
                lines.append(prefix + f"[image: {block.get('alt_text', '')}{saved}]")
        return lines

    def message(self, heading: str, payload: dict[str, Any], where: Clickable) -> None:
        self.say(heading)
        lines = self.blocks(payload.get("blocks") or [], where)
        if not lines:
            lines = indent(mrkdwn(str(payload.get("text") or ""), self.names))
        for line in lines:
            self.say(line)


# -- the shell -------------------------------------------------------------------------------------
class Shell:
    def __init__(
        self,
        settings: Settings,
        *,
        user: str,
        tz: str,
        team: str = TEAM_ID,
        lines: Callable[[str], str],
        out: IO[str],
        script: bool,
    ) -> None:
        from bot.app import build_deps, create_app

        self.fake = FakeSlack(team_id=team).start()
        self.settings = dataclasses.replace(
            settings,
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,
            app_token="",
            slack_api_url=self.fake.api_url,
            delivery_worker=False,
        )
        self.deps = build_deps(self.settings, start_worker=False)
        self.app = create_app(self.settings, self.deps, process_before_response=True)
        self.driver = Driver(self.app, self.fake, SIGNING_SECRET, team_id=team)
        self.names = Names(self.fake)
        self.screen = Screen(out, self.names)
        self.tz = tz
        self.user = self.names.register(user, tz)
        self.read_line = lines
        self.script = script
        self.seen = 0  # fake Slack calls already printed
        self.stack: list[dict[str, Any]] = []  # open modals, the top one last
        self.say = self.screen.say
        self.last_command = ""  # the slash command being run, for "no such command"

    def close(self) -> None:
        self.fake.stop()
        self.deps.engine.dispose()

    @property
    def me(self) -> str:
        return self.names.of(self.user)

    def prompt(self) -> str:
        return f"{self.me}> "

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        self.seen = len(self.fake.calls)
        while True:
            try:
                line = self.read_line(self.prompt())
            except (EndOfInput, KeyboardInterrupt):
                if not self.script:
                    self.say()
                return 0
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line in (":quit", ":q", ":exit"):
                return 0
            self.last_command = ""
            try:
                self.handle(line)
            except EndOfInput:
                self.say("(end of input — the open form was not submitted)")
                return 0
            except KeyboardInterrupt:
                self.say("(interrupted)")
            except Exception as e:  # the shell keeps going whatever the app does
                self.say(f"! error: {type(e).__name__}: {e}")
                if os.environ.get("PARTNERBOT_SHELL_DEBUG"):
                    traceback.print_exc()

    def handle(self, line: str) -> None:
        if line.startswith("/"):
            command, _, text = line.partition(" ")
            self.last_command = command
            self.step(lambda: self.driver.command(self.user, command, slack_mentions(text.strip(), self)))
            return
        if not line.startswith(":"):
            self.say(f"“{line}” isn't a command. Type a slash command like /request {line} — or :help.")
            return
        verb, _, arg = line[1:].partition(" ")
        verb, arg = verb.lower(), arg.strip()
        if verb in ("help", "h", "?"):
            self.say(HELP)
        elif verb == "as":
            if not arg:
                self.say(f"You are @{self.me} ({self.user}). Try :as pat")
                return
            self.user = self.names.register(arg, self.tz)
            self.say(f"(you are now @{self.me}, {self.user})")
        elif verb == "click":
            self.click(arg)
        elif verb in ("views", "view"):
            if not self.stack:
                self.say("(no modal is open)")
                return
            self.show_view(self.stack[-1])
            self.fill(self.stack[-1])
        elif verb in ("messages", "msgs", "m"):
            self.show_messages()
        elif verb == "time":
            self.advance(arg)
        elif verb == "shortcut":
            if not arg:
                self.say("Try :shortcut The customer wants CSV export")
                return
            message = self.fake.add_message(GENERAL, user=self.user, text=arg)
            self.say(f"@{self.me} in #general: {arg}")
            self.say("(you use the message shortcut “Log as request” on it)")
            self.step(lambda: self.driver.shortcut(self.user, message, channel=GENERAL))
        elif verb == "home":
            self.say(f"(you open Partnerbot's Home tab as @{self.me})")
            self.step(
                lambda: self.driver.event(
                    {"type": "app_home_opened", "user": self.user, "channel": f"D{self.user}", "tab": "home"}
                )
            )
        elif verb == "dm":
            if not arg:
                self.say("Try :dm Globex keeps asking for SSO")
                return
            message = self.fake.add_message(self.user, user=self.user, text=arg)
            self.say(f"@{self.me} → Partnerbot (DM): {arg}")
            self.step(
                lambda: self.driver.event(
                    {
                        "type": "message",
                        "channel_type": "im",
                        "channel": FakeSlack.dm_channel(self.user),
                        "user": self.user,
                        "text": arg,
                        "ts": message["ts"],
                    }
                )
            )
        elif verb in ("cancel", "submit"):
            self.say("(no modal is open)")
        else:
            self.say(f"I don't know “{line}”. Try :help, or a slash command like /request help")

    # -- one verb, then everything it caused ------------------------------------------------------
    def step(
        self,
        verb: Callable[[], Reply],
        *,
        ack_heading: str = "",
        after: Callable[[Reply], None] | None = None,
    ) -> Reply:
        """Run one verb, print its ack and every call the bot made, then fill any modal it opened."""
        before = self.stack[-1] if self.stack else None
        reply = verb()
        answered_at = self.driver.answered_at
        self.screen.begin()
        try:
            self.show_ack(reply, ack_heading)
            if answered_at is None:
                self.show_calls()
            if after is not None:
                after(reply)
            # Work the bot did after answering (the repeat check after a form's "Checking…" answer).
            self.show_calls()
        finally:
            self.screen.end()
        top = self.stack[-1] if self.stack else None
        if top is not None and top is not before and any(b.get("type") == "input" for b in top["blocks"]):
            self.fill(top)
        return reply

    def show_ack(self, reply: Reply, heading: str) -> None:
        if reply.status == 404 and self.last_command:
            self.say(f"(the app has no {self.last_command} command — try /request help)")
            return
        if reply.status >= 400:
            self.say(f"(Slack would show: the app failed to respond — HTTP {reply.status})")
            return
        data = reply.json
        if data.get("response_action"):
            return  # view_submission answers are handled by the modal code
        if data.get("text") or data.get("blocks"):
            where = "everyone in #general" if data.get("response_type") == "in_channel" else "only you"
            self.screen.message(
                heading or f"bot → @{self.me} ({where}):", data, Clickable({}, channel=GENERAL, message=data)
            )
        elif reply.body.strip() and not data:
            self.say(f"bot → @{self.me} (only you):")
            for line in indent(mrkdwn(reply.body.strip(), self.names)):
                self.say(line)

    def show_calls(self) -> None:
        calls = self.fake.calls[self.seen :]
        self.seen += len(calls)
        for call in calls:
            self.show_call(call)

    def where(self, channel: str) -> str:
        if channel.startswith("D"):
            return f"@{self.names.of(channel[1:])} (DM)"
        if channel.startswith("G"):
            ids = re.findall(r"[UW][A-Z0-9]+?(?=U|W|$)", channel[1:])
            return "group DM with " + ", ".join("@" + self.names.of(u) for u in ids)
        if channel.startswith(("U", "W")):
            return f"@{self.names.of(channel)} (DM)"
        return "#" + CHANNEL_NAMES.get(channel, channel)

    def show_call(self, call: Call) -> None:
        method, args, response = call.method, call.args, call.response
        if method in QUIET_METHODS:
            return
        if call.status != 200 or not response.get("ok", True):
            self.say(f"(Slack refused {method}: {response.get('error', call.status)})")
            return
        payload = decode_json_fields(args)
        if method == "chat.postMessage":
            channel = response.get("channel", "")
            thread = " (in thread)" if payload.get("thread_ts") else ""
            self.screen.message(
                f"bot → {self.where(channel)}{thread}:",
                payload,
                Clickable({}, channel=channel, message=response.get("message") or payload),
            )
        elif method == "chat.postEphemeral":
            user = str(payload.get("user", ""))
            where = self.where(str(payload.get("channel", "")))
            self.screen.message(
                f"bot → @{self.names.of(user)} (only you, in {where}):",
                payload,
                Clickable({}, channel=str(payload.get("channel", "")), message=payload),
            )
        elif method == "chat.update":
            channel, ts = str(payload.get("channel", "")), str(payload.get("ts", ""))
            stored = next((m for m in self.fake.messages.get(channel, []) if m["ts"] == ts), payload)
            self.screen.message(
                f"bot updated its message to {self.where(channel)}:", payload, Clickable({}, channel, stored)
            )
        elif method == "response_url":
            where = "everyone" if payload.get("response_type") == "in_channel" else "only you"
            self.screen.message(f"bot → @{self.me} ({where}):", payload, Clickable({}, message=payload))
        elif method in ("views.open", "views.push", "views.update"):
            view = response["view"]
            if method == "views.open":
                self.stack = [view]
            elif method == "views.push":
                self.stack.append(view)
            else:
                self.stack = [view if v.get("id") == view["id"] else v for v in self.stack] or [view]
            self.show_view(view)
        elif method == "files.completeUploadExternal":
            for f in decode_json_fields(args).get("files") or []:
                path = self.save_file(str(f.get("id", "")))
                if path:
                    self.say(f"(the bot uploaded a chart: {path})")
        elif method == "views.publish":
            self.screen.message(
                f"bot → App Home of @{self.names.of(str(payload.get('user_id', '')))}:",
                response.get("view") or {},
                Clickable({}, view=response.get("view")),
            )
        elif payload.get("text") or payload.get("blocks"):
            self.screen.message(f"bot ({method}):", payload, Clickable({}))

    def save_file(self, file_id: str) -> str:
        """Write a file the bot uploaded (a chart) where the person can open it; its path."""
        stored = self.fake.files.get(file_id)
        if not stored or not stored.get("data"):
            return ""
        folder = Path(
            os.environ.get("PARTNERBOT_CHART_DIR") or Path(tempfile.gettempdir()) / "partnerbot-charts"
        )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{file_id}-{Path(str(stored.get('filename') or 'chart.png')).name}"
        path.write_bytes(stored["data"])
        self.screen.files[file_id] = str(path)
        return str(path)

    def show_view(self, view: dict[str, Any]) -> None:
        title = text_of(view.get("title"), self.names) or "Modal"
        self.say(f"┌─ modal: {title}")
        blocks = view.get("blocks") or []
        inputs = [b for b in blocks if b.get("type") == "input"]
        # With inputs, the blocks between fields are shown beside them while filling in (see fill()).
        intro = blocks[: blocks.index(inputs[0])] if inputs else blocks
        for line in self.screen.blocks(intro, Clickable({}, view=view), prefix="│ "):
            self.say(line)
        if inputs:
            self.say(f"│ ({len(inputs)} field{'s' if len(inputs) != 1 else ''} to fill in)")
        self.say("└─")

    # -- modals ------------------------------------------------------------------------------------
    def fill(self, view: dict[str, Any]) -> None:
        """Ask each input of the view, submit it, and follow where the submission leads."""
        inputs = [b for b in view.get("blocks", []) if b.get("type") == "input"]
        if not inputs:
            self.show_view(view)
            return
        title = text_of(view.get("title"), self.names) or "Modal"
        submit = text_of(view.get("submit"), self.names) or "Submit"
        self.say(f"(filling in “{title}”: Enter keeps [the default], :cancel closes it)")
        answers: dict[str, Any] = {}
        # Text between fields (e.g. the current focus above "How does it tie to the current focus?").
        notes: dict[int, list[dict[str, Any]]] = {}
        pending: list[dict[str, Any]] = []
        for block in view.get("blocks", []):
            if block.get("type") == "input":
                notes[id(block)] = pending if block is not inputs[0] else []
                pending = []
            else:
                pending.append(block)
        ask = inputs
        first = True
        while True:
            try:
                for block in ask:
                    if first:
                        self.show_notes(view, notes.get(id(block), []))
                    self.ask_field(view, block, answers)
                if first:
                    self.show_notes(view, pending)
            except SubmitNow:
                pass
            except Cancelled:
                self.cancel(view, answers)
                return
            first = False
            self.say(f"(you click “{submit}”)")
            reply = self.submit(view, answers)
            errors = reply.json.get("errors") if reply.json.get("response_action") == "errors" else None
            if not errors:
                return
            ask = []
            for block in inputs:
                if block["block_id"] in errors:
                    label = text_of(block.get("label"), self.names)
                    self.say(f"  ✗ {label}: {errors[block['block_id']]}")
                    ask.append(block)
            unknown = [k for k in errors if k not in {b["block_id"] for b in inputs}]
            for key in unknown:
                self.say(f"  ✗ {key}: {errors[key]}")
            if not ask:
                ask = inputs

    def show_notes(self, view: dict[str, Any], blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        self.screen.begin()
        try:
            for line in self.screen.blocks(blocks, Clickable({}, view=view)):
                self.say(line)
        finally:
            self.screen.end()

    def submit(self, view: dict[str, Any], answers: dict[str, Any]) -> Reply:
        def after(reply: Reply) -> None:
            reply = reply.answered or reply  # Slack's own answer; the step that followed is in the calls
            data = reply.json
            if reply.status < 400 and data.get("response_action") != "errors":
                self.after_submit(view, data.get("response_action"), data.get("view"))

        return self.step(lambda: self.driver.submit(self.user, view, answers), after=after)

    def after_submit(self, view: dict[str, Any], action: str | None, new_view: dict[str, Any] | None) -> None:
        """Slack's behaviour for each answer to a view_submission."""
        if action == "clear":
            self.stack = []
            self.say("(the modal closed)")
        elif action in ("update", "push") and new_view:
            stored = self.fake.remember_view(new_view, view.get("id") if action == "update" else None)
            if action == "update" and self.stack:
                self.stack[-1] = stored
            else:
                self.stack.append(stored)
            self.show_view(stored)
        else:
            if self.stack and self.stack[-1].get("id") == view.get("id"):
                self.stack.pop()
            else:
                self.stack = [v for v in self.stack if v.get("id") != view.get("id")]

    def cancel(self, view: dict[str, Any], answers: dict[str, Any]) -> None:
        self.say("(you close the modal)")
        self.stack = []
        if view.get("notify_on_close"):
            self.step(lambda: self.driver.close(self.user, view, answers))

    def ask(self, prompt: str) -> str:
        line = self.read_line(prompt)
        stripped = line.strip()
        while re.fullmatch(r":(?!submit$|cancel$)[a-z]+(\s.*)?", stripped):
            # A shell verb typed inside a form is not an answer (a real `:` answer starts with a space).
            self.say(f"    (“{stripped}” is a shell command; finish the form with :submit or :cancel first)")
            line = self.read_line(prompt)
            stripped = line.strip()
        if stripped == ":cancel":
            raise Cancelled
        if stripped == ":submit":
            raise SubmitNow
        while line.endswith("\\"):
            line = line[:-1] + "\n" + self.read_line("  ... ")
        return line

    def ask_field(self, view: dict[str, Any], block: dict[str, Any], answers: dict[str, Any]) -> None:
        element = block.get("element") or {}
        kind, block_id = element.get("type", ""), block["block_id"]
        label = text_of(block.get("label"), self.names)
        required = not block.get("optional", False)
        notes = []
        if block.get("hint"):
            notes.append(text_of(block["hint"], self.names))
        if element.get("placeholder"):
            notes.append(text_of(element["placeholder"], self.names))
        self.say(f"» {label}{' (required)' if required else ''}")
        for note in notes:
            self.say(f"    {note}")
        options = element.get("options") or [
            o for g in element.get("option_groups", []) for o in g["options"]
        ]
        while True:
            if kind in ("radio_buttons", "static_select", "checkboxes", "multi_static_select") and options:
                value, ok = self.ask_choice(
                    element,
                    options,
                    block_id,
                    answers,
                    multiple="checkbox" in kind or kind.startswith("multi"),
                )
                if not ok:
                    continue
                has = (
                    bool(value)
                    if value is not None
                    else bool(element.get("initial_option") or element.get("initial_options"))
                )
            else:
                current = answers.get(block_id, element.get("initial_value") or "")
                default = f" [{_short(current)}]" if current else ""
                multi = " (end a line with \\ to go on)" if element.get("multiline") else ""
                line = self.ask(f"  answer{default}{multi}: ")
                if line.strip() == "-":
                    value = ""
                elif not line.strip():
                    value = None
                else:
                    value = line.strip()
                has = bool(value) if value is not None else bool(current)
                if kind == "external_select" and value:
                    value = self.pick_suggestion(view, block_id, value)
            if required and not has:
                self.say("    This field is required (:cancel closes the modal).")
                continue
            if value is not None:
                answers[block_id] = value
            return

    def pick_suggestion(self, view: dict[str, Any], block_id: str, typed: str) -> str:
        """A typeahead, as Slack's menu: what was typed is sent to the bot, and the best of the options it
        offers is picked (a known name starting with it, else the new one)."""
        options = self.driver.suggest(self.user, view, block_id, typed)
        if not options:
            return typed
        labels = [text_of(o.get("text"), self.names) for o in options]
        new = [o for o, label in zip(options, labels, strict=True) if label.startswith("New customer: ")]
        known = [(o, label) for o, label in zip(options, labels, strict=True) if o not in new]
        want = typed.casefold()
        exact = [o for o, label in known if label.casefold() == want]
        starts = [o for o, label in known if label.casefold().startswith(want)]
        pick = (exact or starts or new or [known[0][0]])[0]
        label = labels[options.index(pick)]
        if len(options) > 1:
            self.say(f"    (the menu offers: {', '.join(labels[:6])}{' …' if len(labels) > 6 else ''})")
        self.say(f"    (picked: {label})")
        return str(pick["value"])

    def ask_choice(
        self,
        element: dict[str, Any],
        options: list[dict[str, Any]],
        block_id: str,
        answers: dict[str, Any],
        *,
        multiple: bool,
    ) -> tuple[Any, bool]:
        """(value or None to keep the default, whether the answer was understood)."""
        if multiple:
            chosen = set(answers.get(block_id) or [o["value"] for o in element.get("initial_options") or []])
        else:
            initial = (element.get("initial_option") or {}).get("value")
            chosen = {answers.get(block_id, initial)}
        for n, option in enumerate(options, 1):
            mark = "x" if option["value"] in chosen else " "
            desc = text_of(option.get("description"), self.names)
            desc = f" — {desc}" if desc else ""
            self.say(f"    {n}) [{mark}] {text_of(option.get('text'), self.names)}{desc}")
        how = "numbers, comma-separated" if multiple else "a number"
        keep = "Enter keeps the ones marked [x]" if chosen - {None} else "Enter leaves it empty"
        line = self.ask(f"  choose ({how}; {keep}): ").strip()
        if not line:
            return None, True
        picked = []
        for word in re.split(r"[,\s]+", line):
            if word.isdigit() and 1 <= int(word) <= len(options):
                picked.append(options[int(word) - 1]["value"])
            else:
                match = [
                    o for o in options if text_of(o.get("text"), self.names).lower().startswith(word.lower())
                ]
                if len(match) != 1:
                    self.say(f"    “{line}” isn't one of 1–{len(options)}.")
                    return None, False
                picked.append(match[0]["value"])
        if not multiple and len(picked) != 1:
            self.say(f"    Pick one number from 1–{len(options)}.")
            return None, False
        return (picked if multiple else picked[0]), True

    # -- the other verbs ---------------------------------------------------------------------------
    def click(self, arg: str) -> None:
        if not self.screen.buttons:
            self.say("(there are no buttons to click — try :messages)")
            return
        if not arg.strip().lstrip("[").rstrip("]").isdigit():
            self.say(f"Try :click 1 (buttons are numbered 1–{len(self.screen.buttons)})")
            return
        n = int(arg.strip().lstrip("[").rstrip("]"))
        if not 1 <= n <= len(self.screen.buttons):
            self.say(f"There is no button [{n}]; the latest output has 1–{len(self.screen.buttons)}.")
            return
        target = self.screen.buttons[n - 1]
        label = text_of(target.button.get("text"), self.names)
        self.say(f"(you click “{label}”)")
        self.step(
            lambda: self.driver.click(
                self.user, target.button, channel=target.channel, message=target.message, view=target.view
            )
        )

    def show_messages(self, limit: int = 5) -> None:
        dm = FakeSlack.dm_channel(self.user)
        shown = False
        self.screen.begin()
        try:
            for channel in (dm, GENERAL):
                messages = self.fake.messages.get(channel, [])[-limit:]
                for message in messages:
                    shown = True
                    author = "bot" if message.get("user") == "UBOT" else "@" + self.names.of(message["user"])
                    self.screen.message(
                        f"{author} → {self.where(channel)}:", message, Clickable({}, channel, message)
                    )
        finally:
            self.screen.end()
        if not shown:
            self.say("(no messages to you yet)")

    def advance(self, arg: str) -> None:
        try:
            delta = parse_delta(arg)
        except ValueError:
            self.say(f"I can't read “{arg}” as a time. Try :time +7d, :time +3h or :time +30m")
            return
        if delta > SHELL_CLOCK_MOST:
            self.say(f"That's further than I move the clock at once (at most {SHELL_CLOCK_MOST.days} days).")
            return
        from bot.clock import run_due
        from storage.models import advance_clock, utcnow

        def verb() -> Reply:
            # In steps, as a running clock process would see the time pass: what falls due on the way goes
            # out on the way (a jump of a week must not skip Monday's digest as "missed").
            left = delta
            while left > timedelta(0):
                step = min(left, SHELL_CLOCK_STEP)
                advance_clock(step)
                left -= step
                run_due(self.deps, utcnow())
                self.deps.worker.drain()
            return Reply(200, "")

        self.say(
            f"(the clock moves forward {arg.lstrip('+')}: it will be {utcnow() + delta:%Y-%m-%d %H:%M} UTC)"
        )
        self.step(verb)


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def decode_json_fields(args: dict[str, Any]) -> dict[str, Any]:
    """The Web API client sends blocks as a JSON string in form bodies."""
    import json

    out = dict(args)
    for key in ("blocks", "view", "attachments", "files"):
        if isinstance(out.get(key), str):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(out[key])
    return out


def slack_mentions(text: str, shell: Shell) -> str:
    """What Slack does to typed text with escaping on: `&`, `<`, `>` -> `&amp;`, `&lt;`, `&gt;`;
    @name -> <@UNAME|name>, @channel -> <!channel>."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def mention(m: re.Match[str]) -> str:
        name = m.group(1).rstrip(".")
        rest = m.group(1)[len(name) :]
        if name.lower() in ("channel", "here", "everyone"):
            return f"<!{name.lower()}>{rest}"
        uid = shell.names.register(name, shell.tz)
        return f"<@{uid}|{shell.names.of(uid)}>{rest}"

    return re.sub(r"(?<![\w<])@([A-Za-z0-9][\w.\-]*)", mention, text)


# -- entry point -----------------------------------------------------------------------------------
def line_reader(stream: IO[str], out: IO[str], *, echo: bool) -> Callable[[str], str]:
    """Read one line per prompt; in script mode print the prompt and the line, as if typed."""
    if not echo and stream is sys.stdin:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (history and editing for input())

        def interactive(prompt: str) -> str:
            try:
                return input(prompt)
            except EOFError:
                raise EndOfInput from None

        return interactive

    def scripted(prompt: str) -> str:
        line = stream.readline()
        if not line:
            raise EndOfInput
        line = line.rstrip("\r\n")
        print(f"{prompt}{line}", file=out, flush=True)
        return line

    return scripted


def _not_unhandled(record: logging.LogRecord) -> bool:
    # The shell says "no such command" itself; Bolt's hint about writing a listener is for developers.
    return not str(record.msg).startswith("Unhandled request")


class _ShortErrors(logging.Formatter):
    """Log lines without tracebacks: the shell reports failures in one line and carries on."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"  (log: {record.levelname.lower()} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            e = record.exc_info[1]
            text += f" — {type(e).__name__}: {e}"
        return text + ")"


def main(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot shell", description="Use Partnerbot in a terminal.")
    parser.add_argument("--as", dest="user", default="", help="who you are: a name (dana) or a Slack id")
    parser.add_argument("--tz", default="", help="your time zone (default: this machine's)")
    parser.add_argument("--db", default="", help=f"database URL (default: {settings.database_url})")
    parser.add_argument("--team", default=TEAM_ID, help="the Slack team id to pretend to be")
    parser.add_argument("--script", default="", help="read commands and answers from FILE")
    args = parser.parse_args(argv)

    from zoneinfo import ZoneInfo

    tz = args.tz or local_tz()
    try:
        ZoneInfo(tz)
    except Exception:
        print(f"partnerbot shell: unknown time zone {tz!r}; try e.g. Europe/Berlin", file=sys.stderr)
        return 2
    user = args.user or _login_name()
    out = sys.stdout
    if args.script:
        try:
            stream: IO[str] = open(args.script, encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as e:
            print(f"partnerbot shell: can't read script {args.script!r}: {e.strerror}", file=sys.stderr)
            return 2
        script = True
    else:
        stream = sys.stdin
        script = not sys.stdin.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ShortErrors())
    handler.addFilter(_not_unhandled)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)

    if args.db:
        try:
            settings = dataclasses.replace(settings, database_url=check_url(args.db))
        except ValueError as e:
            print(f"partnerbot shell: --db {e}", file=sys.stderr)
            return 2
    shell = Shell(
        settings,
        user=user,
        tz=tz,
        team=args.team,
        lines=line_reader(stream, out, echo=script),
        out=out,
        script=script,
    )
    try:
        if not script:
            shell.say(
                f"Partnerbot shell — you are @{shell.me} ({shell.user}, {tz}), database "
                f"{shell.settings.database_url}.\n"
                "Type a slash command such as /request CSV export for Acme, or :help. :quit leaves."
            )
        return shell.run()
    finally:
        shell.close()
        if stream is not sys.stdin:
            stream.close()


def _login_name() -> str:
    try:
        name = getpass.getuser()
    except Exception:
        name = ""
    name = re.sub(r"[^A-Za-z0-9._-]", "", name)
    return name if name and name != "root" else "you"
