"""The latency benchmark's baseline: the least a Bolt app can do for the same two payloads.

`/request` opens a one-field modal with the trigger (one views.open, as any /request must), and the
form's view_submission is acknowledged (the modal closes). Signing secret checked by Bolt, no database,
no matcher. bench_latency.py serves it with the Procfile's web line (same gunicorn, config, workers and
threads), only the app spec swapped:

    gunicorn --config python:bot.gunicorn_conf ... "benchmark.bare_bolt:create_wsgi_app()"
"""

from __future__ import annotations

import os

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def create_app() -> App:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command("/request")
    def request_command(ack, body, client) -> None:  # noqa: ANN001 (Bolt's injected arguments)
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "request_modal",
                "title": {"type": "plain_text", "text": "Log a request"},
                "submit": {"type": "plain_text", "text": "Log it"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "request",
                        "label": {"type": "plain_text", "text": "What does the customer need?"},
                        "element": {
                            "type": "plain_text_input",
                            "action_id": "value",
                            "initial_value": body.get("text") or "",
                        },
                    }
                ],
            },
        )
        ack()

    @app.view_submission("request_modal")
    def request_form(ack) -> None:  # noqa: ANN001
        ack()

    return app


def create_wsgi_app() -> SlackRequestHandler:
    return SlackRequestHandler(create_app(), path="/slack/events")
