"""Drive the app as Slack would: signed payloads in, and what the bot sent out read from the fake Slack.

`Driver` dispatches in-process (the shell, fast tests); `HttpDriver` posts over real HTTP to a running
server (end-to-end tests). Both share the same verbs: command, submit, click, shortcut, event.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot import payloads
from bot.fake_slack import TEAM_ID, FakeSlack

# The request form's first answer and its last step (handlers/views/request_modal.py; not imported: the
# driver stays free of the app's modules).
CHECKING_CALLBACK = "request_checking"
LOGGED_CALLBACK = "request_logged"


@dataclass
class Reply:
    status: int
    body: str
    # For a followed form submission (BaseDriver.follow): Slack's actual answer.
    answered: Reply | None = None

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body and self.body.strip().startswith("{") else {}

    @property
    def text(self) -> str:
        """What the user sees as the immediate (ephemeral) answer to a command."""
        data = self.json
        return data.get("text", "") if data else self.body


class BaseDriver:
    def __init__(self, fake: FakeSlack, signing_secret: str, team_id: str = TEAM_ID) -> None:
        self.fake = fake
        self.secret = signing_secret
        self.team_id = team_id

    def send(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> Reply:
        raise NotImplementedError

    def _signed(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> Reply:
        return self.send(body, content_type, {**payloads.sign(self.secret, body), **(headers or {})})

    # -- the verbs -----------------------------------------------------------------------------
    def command(
        self,
        user: str,
        command: str,
        text: str = "",
        *,
        channel: str = "C0GENERAL",
        team_id: str | None = None,
        trigger_id: str | None = None,
    ) -> Reply:
        body = payloads.slash_command(
            command,
            text,
            user_id=user,
            team_id=team_id or self.team_id,
            channel_id=channel,
            response_url=self.fake.response_url(),
            trigger_id=trigger_id,
        )
        return self._signed(body, "application/x-www-form-urlencoded")

    def submit(
        self,
        user: str,
        view: dict[str, Any],
        answers: dict[str, Any],
        *,
        team_id: str | None = None,
        trigger_id: str | None = None,
        follow: bool = True,
    ) -> Reply:
        """`follow`: see `follow()`; False returns Slack's answer as it came."""
        body = payloads.view_submission(
            view, answers, user_id=user, team_id=team_id or self.team_id, trigger_id=trigger_id
        )
        calls = len(self.fake.calls)
        reply = self._signed(body, "application/x-www-form-urlencoded")
        return self.follow(reply, view, calls) if follow else reply

    def follow(self, reply: Reply, view: dict[str, Any], calls: int) -> Reply:
        """A request form answered "Checking for similar requests…" is followed to the step the person sees
        once the check is done (views.update of the same view): the "Same thing?" step comes back as if
        the answer had carried it, the logged view as the form closing (an empty answer), as they were
        answered before the check moved after the answer. The answer itself stays in `reply.answered`."""
        data = reply.json
        shown = data.get("view") if data.get("response_action") == "update" else None
        if not isinstance(shown, dict) or shown.get("callback_id") != CHECKING_CALLBACK:
            return reply
        view_id = view.get("id")

        def updated() -> Any:
            return next(
                (
                    c
                    for c in self.fake.calls[calls:]
                    if c.method == "views.update" and c.args.get("view_id") == view_id
                ),
                None,
            )

        call = self.fake.wait_for(updated, timeout=30)
        step = call.response.get("view") if call.response.get("ok") else None
        if step is None:
            followed = reply
        elif step.get("callback_id") == LOGGED_CALLBACK:
            followed = Reply(status=reply.status, body="")
        else:
            followed = Reply(
                status=reply.status, body=json.dumps({"response_action": "update", "view": step})
            )
        followed.answered = reply
        return followed

    def close(self, user: str, view: dict[str, Any], answers: dict[str, Any]) -> Reply:
        body = payloads.view_closed(view, answers, user_id=user, team_id=self.team_id)
        return self._signed(body, "application/x-www-form-urlencoded")

    def click(
        self,
        user: str,
        button: dict[str, Any],
        *,
        channel: str = "",
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        team_id: str | None = None,
        action_ts: str | None = None,
    ) -> Reply:
        body = payloads.block_actions(
            button,
            user_id=user,
            team_id=team_id or self.team_id,
            channel_id=channel,
            message=message,
            view=view,
            action_ts=action_ts,
        )
        return self._signed(body, "application/x-www-form-urlencoded")

    def suggest(self, user: str, view: dict[str, Any], block_id: str, value: str) -> list[dict[str, Any]]:
        """Type `value` into the external select in `block_id` of `view`: the options the app offers."""
        # An input block's element, or a section's accessory.
        element = next(
            b.get("element") or b["accessory"]
            for b in view.get("blocks", [])
            if b.get("block_id") == block_id
        )
        body = payloads.block_suggestion(
            view,
            block_id=block_id,
            action_id=element["action_id"],
            value=value,
            user_id=user,
            team_id=self.team_id,
        )
        reply = self._signed(body, "application/x-www-form-urlencoded")
        return reply.json.get("options") or []

    def shortcut(
        self, user: str, message: dict[str, Any], *, channel: str, team_id: str | None = None
    ) -> Reply:
        body = payloads.message_action(
            message, user_id=user, team_id=team_id or self.team_id, channel_id=channel
        )
        return self._signed(body, "application/x-www-form-urlencoded")

    def event(
        self,
        event: dict[str, Any],
        *,
        team_id: str | None = None,
        event_id: str | None = None,
        retry_num: int = 0,
        retry_reason: str = "http_timeout",
    ) -> Reply:
        """`retry_num` > 0 sends it as Slack's retry of an earlier delivery (give the same `event_id`)."""
        body = payloads.event(event, team_id=team_id or self.team_id, event_id=event_id)
        retry = (
            {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason} if retry_num else {}
        )
        return self._signed(body, "application/json", retry)

    # -- reading what the bot did --------------------------------------------------------------
    def opened_views(self) -> list[dict[str, Any]]:
        """Every view the bot opened, pushed or updated, oldest first (as Slack stored it)."""
        return [
            c.response["view"]
            for c in self.fake.calls
            if c.method in ("views.open", "views.push", "views.update") and c.response.get("ok")
        ]

    def last_view(self) -> dict[str, Any]:
        views = self.opened_views()
        assert views, f"the bot opened no view; calls: {self.fake.summary()}"
        return views[-1]


class Driver(BaseDriver):
    """In-process: the very same App, dispatched directly. The app should run listeners to the end
    (process_before_response=True) so that each verb returns when the bot is done."""

    def __init__(
        self, app: App, fake: FakeSlack, signing_secret: str, team_id: str = TEAM_ID, drain: bool = True
    ) -> None:
        super().__init__(fake, signing_secret, team_id)
        self.app = app
        self.drain = drain
        self.answered_at: int | None = None

    def send(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> Reply:
        all_headers = {"content-type": content_type, **(headers or {})}
        deps = getattr(self.app, "deps", None)
        background = deps.background if deps is not None else None
        handed_in = background.submitted if background is not None else 0
        calls = len(self.fake.calls)
        response = self.app.dispatch(BoltRequest(body=body, headers=all_headers))
        # With work left after the answer (a lazy listener, which may have started already), the shell
        # shows the answer before the calls made while dispatching (their ack functions make none).
        # None: no such work, and the calls come first, as they did.
        self.answered_at = calls if background is not None and background.submitted > handed_in else None
        if self.drain and deps is not None:
            if deps.background is not None and not deps.background.drain():
                raise TimeoutError("the work after the answer did not finish within 30 s")
            if deps.worker is not None:
                deps.worker.drain()
        return Reply(status=response.status, body=response.body or "")


class HttpDriver(BaseDriver):
    """Over real HTTP to `python -m bot http` / gunicorn."""

    def __init__(self, base_url: str, fake: FakeSlack, signing_secret: str, team_id: str = TEAM_ID) -> None:
        super().__init__(fake, signing_secret, team_id)
        self.base_url = base_url.rstrip("/")

    def send(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> Reply:
        request = urllib.request.Request(
            self.base_url + "/slack/events",
            data=body.encode("utf-8"),
            method="POST",
            headers={"Content-Type": content_type, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(status=response.status, body=response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            return Reply(status=e.code, body=e.read().decode("utf-8", "replace"))
