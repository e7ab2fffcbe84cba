"""A local stand-in for Slack's Web API: records every call and answers like Slack does.

The shell drives the real app against it, and the tests point the bot's `SLACK_API_URL` at it. It can
also misbehave on purpose (HTTP 429 with Retry-After, 5xx, per-channel rate limits) to test delivery.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TEAM_ID = "T0PARTNER"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    # The bearer token the call was made with ("" when none).
    token: str = ""

    def text_blob(self) -> str:
        """Everything a user could read in this call, as one string."""
        return json.dumps(self.args, ensure_ascii=False)


# A failure rule gets (method, args) and returns (status, headers, body) to answer instead, or None.
FailureRule = Callable[[str, dict[str, Any]], tuple[int, dict[str, str], dict[str, Any]] | None]


class FakeSlack:
    def __init__(self, *, team_id: str = TEAM_ID, enterprise_id: str = "", org_wide: bool = False) -> None:
        # The installation the bot token belongs to (what auth.test says): a workspace, a workspace of an
        # Enterprise Grid org, or (org_wide) the whole org.
        self.team_id = team_id
        self.enterprise_id = enterprise_id
        self.org_wide = org_wide
        # Seconds Slack takes to answer each method (a slow Slack), outside any lock.
        self.delays: dict[str, float] = {}
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.missing_users: set[str] = set()
        self.deactivated_users: set[str] = set()
        self.missing_channels: set[str] = set()
        self.failure_rules: list[FailureRule] = []
        # Asked after Slack stored a message: an answer here goes back although the message stays
        # ("stored, then 500"), so the sender cannot tell whether it arrived.
        self.after_store_rules: list[FailureRule] = []
        # Seconds before a stored message shows in conversations.history / replies: Slack does not
        # promise that a message is readable the moment it was accepted.
        self.history_delay: float = 0.0
        self._visible_at: dict[str, float] = {}  # ts -> time.monotonic() from which history shows it
        # Slack allows about one message a second per channel; None means no limit.
        self.per_channel_interval: float | None = None
        # Seconds to hold each chat.postMessage answer after the message is stored: a window in which
        # a sender can die after Slack accepted the message but before it heard back.
        self.post_response_delay: float = 0.0
        self._last_post: dict[str, float] = {}
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.views: dict[str, dict[str, Any]] = {}
        # Files uploaded with files.uploadV2: id -> {"filename", "title", "data", "complete"}.
        self.files: dict[str, dict[str, Any]] = {}
        # OAuth v2: codes Slack would hand the redirect (code -> the installation it grants), and the
        # tokens it issued (access or refresh token -> that installation).
        self.install_codes: dict[str, dict[str, Any]] = {}
        self.issued: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.changed = threading.Condition(self._lock)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if parsed.path.startswith("/upload/"):
                    # A file's bytes, posted to the URL files.getUploadURLExternal handed out.
                    ok = fake.receive_upload(parsed.path[len("/upload/") :], raw)
                    data = b"OK - " + str(len(raw)).encode() if ok else b"not found"
                    self.send_response(200 if ok else 404)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                ctype = self.headers.get("Content-Type", "")
                if raw:
                    if "json" in ctype:
                        args.update(json.loads(raw.decode("utf-8")))
                    else:
                        args.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()})
                if parsed.path.startswith("/api/"):
                    method = parsed.path[len("/api/") :]
                elif parsed.path.startswith("/response/"):
                    method = "response_url"
                    args["response_url_id"] = parsed.path[len("/response/") :]
                else:
                    method = parsed.path.strip("/")
                if fake.delays.get(method):
                    time.sleep(fake.delays[method])
                bearer = self.headers.get("Authorization", "")
                token = (
                    bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else str(args.get("token") or "")
                )
                if bearer.startswith("Basic "):  # oauth.v2.access: the app's client id and secret
                    client_id, _, secret = base64.b64decode(bearer[len("Basic ") :]).decode().partition(":")
                    args.setdefault("client_id", client_id)
                    args.setdefault("client_secret", secret)
                status, headers, body = fake.answer(method, args, token)
                if fake.post_response_delay and method == "chat.postMessage":
                    time.sleep(fake.post_response_delay)
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # many concurrent senders (the delivery benchmark) must not be reset

        self._server = Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    # -- inspection ----------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.status == 200 and c.response.get("ok")]

    def posts_to(self, channel: str) -> list[Call]:
        """Messages that landed in a channel (a user id means that user's DM with the bot)."""
        want = self.dm_channel(channel) if channel.startswith(("U", "W")) else channel
        return [c for c in self.calls_to("chat.postMessage") if c.response.get("channel") == want]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (the bot answers from another thread or process)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s; calls so far: {self.summary()}")
                self.changed.wait(min(remaining, 0.2))

    def summary(self) -> list[str]:
        with self._lock:
            return [f"{c.method}:{c.status}:{c.response.get('error', 'ok')}" for c in self.calls]

    def all_text(self) -> str:
        with self._lock:
            return "\n".join(c.text_blob() for c in self.calls)

    # -- behaviour -----------------------------------------------------------------------------
    def user(self, user_id: str) -> dict[str, Any]:
        if user_id in self.users:
            return self.users[user_id]
        known = (
            {"enterprise_user": {"id": user_id, "enterprise_id": self.enterprise_id}}
            if self.enterprise_id
            else {}
        )
        return known | {
            "id": user_id,
            "team_id": self.team_id,
            "name": f"user{user_id.lower()}",
            "real_name": f"User {user_id}",
            "tz": "America/New_York",
            "tz_offset": -18000,
            "deleted": user_id in self.deactivated_users,
            "profile": {"display_name": f"user{user_id.lower()}", "real_name": f"User {user_id}"},
        }

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        tz: str = "America/New_York",
        team_id: str | None = None,
        enterprise_id: str = "",
    ) -> None:
        """A person Slack knows; `team_id` another organisation's for a Slack Connect user."""
        self.users[user_id] = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": name.lower().replace(" ", "."),
            "real_name": name,
            "tz": tz,
            "deleted": False,
            "profile": {"display_name": name, "real_name": name},
        }
        if enterprise_id:
            self.users[user_id]["enterprise_user"] = {"id": user_id, "enterprise_id": enterprise_id}

    def add_message(
        self, channel: str, *, user: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A message a person posted (the shell's `:shortcut` acts on one); conversations.history sees it."""
        with self._lock:
            message = {"type": "message", "ts": self._next_ts(), "text": text, "user": user}
            if thread_ts:
                message["thread_ts"] = thread_ts
            self.messages[self._resolve_channel(channel)].append(message)
            return message

    def remember_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        """Store a view as Slack would when a view_submission ack answers with "update" or "push"."""
        with self._lock:
            return self._new_view({"view": view}, view_id)

    @staticmethod
    def dm_channel(user_id: str) -> str:
        return "D" + user_id

    def _resolve_channel(self, channel: str) -> str:
        if channel.startswith(("U", "W")):
            return self.dm_channel(channel)
        return channel

    def answer(
        self, method: str, args: dict[str, Any], token: str = ""
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            call = Call(method=method, args=args, at=time.time(), token=token)
            self._current_token = token
            self.calls.append(call)
            for rule in self.failure_rules:
                injected = rule(method, args)
                if injected is not None:
                    call.status, headers, call.response = injected
                    self.changed.notify_all()
                    return call.status, headers, call.response
            if method in ("chat.postMessage", "chat.postEphemeral") and self.per_channel_interval:
                channel = self._resolve_channel(str(args.get("channel", "")))
                now = time.monotonic()
                last = self._last_post.get(channel)
                if last is not None and now - last < self.per_channel_interval:
                    wait = max(1, int(self.per_channel_interval - (now - last) + 0.999))
                    call.status, call.response = 429, {"ok": False, "error": "ratelimited"}
                    self.changed.notify_all()
                    return 429, {"Retry-After": str(wait)}, call.response
                self._last_post[channel] = now
            handler = getattr(self, "_api_" + method.replace(".", "_"), None)
            body = handler(args) if handler else {"ok": True}
            if body.get("ok"):
                for rule in self.after_store_rules:
                    injected = rule(method, args)
                    if injected is not None:
                        call.status, headers, call.response = injected
                        self.changed.notify_all()
                        return call.status, headers, call.response
            call.response = body
            self.changed.notify_all()
            return 200, {}, body

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.{next(self._ids):06d}"

    # -- OAuth v2 ------------------------------------------------------------------------------
    def add_install_code(
        self,
        code: str,
        *,
        team_id: str = "",
        enterprise_id: str = "",
        org_wide: bool = False,
        installer: str = "U0INSTALLER",
        expires_in: int = 43200,
    ) -> None:
        """What an admin's "Allow" in Slack's install page grants: the redirect carries `code`."""
        self.install_codes[code] = {
            "team_id": "" if org_wide else (team_id or self.team_id),
            "enterprise_id": enterprise_id,
            "org_wide": org_wide,
            "installer": installer,
            "expires_in": expires_in,
        }

    def _issue(self, grant: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        access, refresh = f"xoxe.xoxb-1-fake{n}", f"xoxe-1-refresh{n}"
        self.issued[access] = grant
        self.refresh_tokens[refresh] = grant
        return {"access_token": access, "refresh_token": refresh, "expires_in": grant["expires_in"]}

    def _api_oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("client_id") or not args.get("client_secret"):
            return {"ok": False, "error": "invalid_client_id"}
        if args.get("grant_type") == "refresh_token":
            grant = self.refresh_tokens.pop(str(args.get("refresh_token") or ""), None)
            if grant is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            return {"ok": True, "token_type": "bot", **self._issue(grant)}
        grant = self.install_codes.pop(str(args.get("code") or ""), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        enterprise = {"id": grant["enterprise_id"], "name": "Fake Grid"} if grant["enterprise_id"] else None
        return {
            "ok": True,
            "app_id": "A0PARTNERBOT",
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": "UBOT",
            "team": None if grant["org_wide"] else {"id": grant["team_id"], "name": "Fake"},
            "enterprise": enterprise,
            "is_enterprise_install": grant["org_wide"],
            "authed_user": {"id": grant["installer"]},
            **self._issue(grant),
        }

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        grant = self.issued.get(getattr(self, "_current_token", ""))
        if grant is not None:  # a token issued by the OAuth install: its own installation
            answer = {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team": "Fake", "url": ""}
            if grant["org_wide"]:
                return answer | {
                    "team_id": grant["enterprise_id"],
                    "enterprise_id": grant["enterprise_id"],
                    "is_enterprise_install": True,
                }
            return answer | {"team_id": grant["team_id"], "enterprise_id": grant["enterprise_id"] or None}
        answer = {
            "ok": True,
            "user_id": "UBOT",
            "bot_id": "BBOT",
            "team_id": self.team_id,
            "team": "Fake",
            "url": "",
        }
        if self.enterprise_id:
            answer["enterprise_id"] = self.enterprise_id
        if self.org_wide:
            answer.update(team_id=self.enterprise_id, is_enterprise_install=True)
        return answer

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = str(args.get("user", ""))
        if not uid or uid in self.missing_users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self.user(uid)}

    def _api_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if any(u in self.missing_users for u in users):
            return {"ok": False, "error": "user_not_found"}
        if len(users) == 1:
            return {"ok": True, "channel": {"id": self.dm_channel(users[0])}}
        return {"ok": True, "channel": {"id": "G" + "".join(sorted(users))}}

    def _post_check(self, channel: str) -> dict[str, Any] | None:
        if channel in self.missing_channels:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith(("U", "W")):
            if channel in self.missing_users:
                return {"ok": False, "error": "channel_not_found"}
            if channel in self.deactivated_users:
                return {"ok": False, "error": "user_disabled"}
        return None

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        error = self._post_check(channel)
        if error:
            return error
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        resolved = self._resolve_channel(channel)
        ts = self._next_ts()
        message = {
            "type": "message",
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": args.get("blocks"),
            "thread_ts": args.get("thread_ts"),
            "user": "UBOT",
        }
        if self.history_delay:
            self._visible_at[ts] = time.monotonic() + self.history_delay
        if args.get("metadata"):
            meta = args["metadata"]
            message["metadata"] = json.loads(meta) if isinstance(meta, str) else meta
        self.messages[resolved].append(message)
        return {"ok": True, "channel": resolved, "ts": ts, "message": message}

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        error = self._post_check(channel)
        if error:
            return error
        return {"ok": True, "message_ts": self._next_ts()}

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                message["text"] = args.get("text", message["text"])
                message["blocks"] = args.get("blocks", message.get("blocks"))
                return {"ok": True, "channel": channel, "ts": ts}
        return {"ok": False, "error": "message_not_found"}

    def _api_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), str(args.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _readable(self, channel: str) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [m for m in self.messages.get(channel, []) if self._visible_at.get(m["ts"], 0.0) <= now]

    def _api_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(str(args.get("channel", "")))
        messages = list(reversed(self._readable(channel)))
        if args.get("latest"):  # as Slack: only messages up to `latest` (inclusive here)
            messages = [m for m in messages if float(m["ts"]) <= float(args["latest"])]
        limit = int(args.get("limit") or 100)
        return {"ok": True, "messages": messages[:limit], "has_more": len(messages) > limit}

    def _api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(str(args.get("channel", "")))
        ts = str(args.get("ts", ""))
        messages = [m for m in self._readable(channel) if m["ts"] == ts or m.get("thread_ts") == ts]
        return {"ok": True, "messages": messages, "has_more": False}

    def _new_view(self, args: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        view = dict(view or {})
        view["id"] = view_id or f"V{next(self._ids):08d}"
        view.setdefault("hash", f"h{next(self._ids)}")
        view.setdefault("private_metadata", "")
        view["team_id"] = self.team_id
        if not self.org_wide:
            view["app_installed_team_id"] = self.team_id
        view["state"] = {"values": {}}
        self.views[view["id"]] = view
        return view

    def _api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id", ""))
        if not trigger or trigger.startswith("expired"):
            return {"ok": False, "error": "expired_trigger_id"}
        return {"ok": True, "view": self._new_view(args)}

    def _api_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._api_views_open(args)

    def _api_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = str(args.get("view_id", ""))
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        if args.get("hash") and args["hash"] != self.views[view_id].get("hash"):
            return {"ok": False, "error": "hash_conflict"}  # updated since that version was seen
        args = {k: v for k, v in args.items() if k != "hash"}
        return {"ok": True, "view": self._new_view(args, view_id)}

    def _api_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": self._new_view(args)}

    def receive_upload(self, file_id: str, data: bytes) -> bool:
        with self._lock:
            if file_id not in self.files:
                return False
            self.files[file_id]["data"] = data
            self.changed.notify_all()
            return True

    def _api_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length") or "").isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = {"filename": args["filename"], "title": "", "data": b"", "complete": False}
        return {
            "ok": True,
            "file_id": file_id,
            "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
        }

    def _api_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        done = []
        for f in files:
            stored = self.files.get(str(f.get("id")))
            if stored is None or not stored["data"]:
                return {"ok": False, "error": "file_not_found"}
            stored.update(title=f.get("title") or stored["filename"], complete=True)
            done.append({"id": f["id"], "name": stored["filename"], "title": stored["title"]})
        return {"ok": True, "files": done}

    def _api_response_url(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}
