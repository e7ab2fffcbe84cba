"""Every table Partnerbot keeps. Each row is scoped to one Slack workspace (team + enterprise)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

_clock_offset = timedelta(0)


def utcnow() -> datetime:
    """Aware UTC "now" for everything the bot stores and schedules (the shell can move it forward)."""
    return datetime.now(UTC) + _clock_offset


def advance_clock(delta: timedelta) -> datetime:
    """Move this process's clock forward (the shell's `:time +7d`); returns the new now."""
    global _clock_offset
    _clock_offset += delta
    return utcnow()


def set_clock(at: datetime | None) -> datetime:
    """Make `utcnow()` read `at` from now on (time still flows from there); None goes back to the real
    clock. Tests pin the clock so that everything they create shares their date, whatever the real one."""
    global _clock_offset
    _clock_offset = timedelta(0) if at is None else at - datetime.now(UTC)
    return utcnow()


class Workspace(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("team_id", "enterprise_id", name="uq_workspace_team"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    # Empty string rather than NULL so the unique constraint holds on every database.
    enterprise_id: str = Field(default="", max_length=32)
    name: str = Field(default="", max_length=255)
    # Set when Slack said the app was uninstalled or its tokens revoked (0014): the workspace's outbox rows
    # are parked, not retried, until a payload or an install from it again resumes them.
    parked_at: datetime | None = None
    parked_reason: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    """Anyone who has used the bot or been named in it: requesters, PMs, admins."""

    __table_args__ = (UniqueConstraint("workspace_id", "slack_user_id", name="uq_person_user"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    slack_user_id: str = Field(max_length=32)
    name: str = Field(default="", max_length=255)
    tz: str = Field(default="UTC", max_length=64)
    is_pm: bool = False
    is_admin: bool = False
    # The person's own Slack team, which is not the workspace's for someone from another organisation in
    # a Slack Connect channel, or from another workspace of an org-wide install ("" when Slack didn't say).
    home_team_id: str = Field(default="", max_length=32)
    # From another organisation than the installation's: never an admin or PM by default, and sees other
    # requests only as the installing organisation allows (PARTNERBOT_EXTERNAL_SEE_REQUESTS).
    external: bool = False
    # Threshold digest schedule (PMs): "weekly", "daily" or "off"; weekday 0 = Monday; hour local.
    digest_cadence: str = Field(default="weekly", max_length=16)
    digest_weekday: int = 0
    digest_hour: int = 9
    last_digest_at: datetime | None = None
    # Deactivated in Slack (user_change, 0014): no digests; an admin hears about the areas they owned.
    deactivated: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)


class ProductArea(SQLModel, table=True):
    """A PM's product area: its current focus and the rules that decide when a request reaches the PM."""

    __table_args__ = (UniqueConstraint("workspace_id", "name_key", name="uq_area_name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    name: str = Field(max_length=80)
    name_key: str = Field(max_length=80)  # casefolded name, for lookups and uniqueness
    pm_id: int | None = Field(default=None, foreign_key="person.id")
    focus: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    focus_set_at: datetime | None = None
    focus_set_by_id: int | None = Field(default=None, foreign_key="person.id")
    threshold_count: int = 5
    threshold_days: int = 30
    threshold_amount_cents: int | None = None
    # The money rule compares only amounts in its own currency: no exchange rates are guessed.
    threshold_currency: str = Field(default="USD", max_length=3)
    # "immediate": DM the PM when the count rule is crossed; "digest": wait for the digest.
    alert_mode: str = Field(default="immediate", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    # A retired area keeps its row (its requests, charts and decisions point at it) but leaves every list;
    # its name_key is set aside so the name can be used again.
    retired_at: datetime | None = None


class FeatureRequest(SQLModel, table=True):
    """One customer need. Its occurrences are every time someone logged it."""

    __tablename__ = "feature_request"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    area_id: int = Field(foreign_key="productarea.id", index=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    # open | planned | not_yet | shipped | merged
    status: str = Field(default="open", max_length=16, index=True)
    status_reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    status_changed_at: datetime | None = None
    status_by_id: int | None = Field(default=None, foreign_key="person.id")
    shipped_note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    shipped_link: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    merged_into_id: int | None = Field(default=None, foreign_key="feature_request.id")
    # Sentence-embedding vector (float32 bytes) when the embedding matcher is installed.
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    embedding_model: str = Field(default="", max_length=64)
    # When the vector was last re-learned from the request's phrasings (a repeat confirmed, a merge):
    # other processes re-index what changed since they last looked.
    embedding_at: datetime | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Occurrence(SQLModel, table=True):
    """One time a request was heard: who logged it, for which customer, and the follow-up answers."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    request_id: int = Field(foreign_key="feature_request.id", index=True)
    logged_by_id: int = Field(foreign_key="person.id", index=True)
    # The author of the original message when logged from a message shortcut or reaction.
    raised_by_id: int | None = Field(default=None, foreign_key="person.id")
    source: str = Field(default="command", max_length=16)  # command | shortcut | reaction | shell
    # What the requester submitted, and the whole original text (message or command) as typed.
    text: str = Field(sa_column=Column(Text, nullable=False))
    source_text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    customer: str = Field(default="", max_length=255)
    amount_cents: int | None = None
    currency: str = Field(default="", max_length=8)
    amount_text: str = Field(default="", max_length=255)
    frequency: str = Field(default="", max_length=16)  # first_time | monthly | weekly | daily
    frequency_detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    root_problem: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    impacts: str = Field(default="", max_length=255)  # comma-separated impact codes
    impact_detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    focus_tie: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    channel_id: str = Field(default="", max_length=32)
    message_ts: str = Field(default="", max_length=32)
    thread_ts: str = Field(default="", max_length=32)
    permalink: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    followup_sent_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # The CRM account the customer was picked as (0019): `hubspot:123`, `salesforce:001…`. Counted as one
    # customer by it once the workspace's CRM confirmed the id (`crm_verified`); `amount_from_crm` when the
    # amount is the CRM's (kept current by the clock) rather than typed; `crm_checked_at` its last refresh.
    crm_ref: str = Field(default="", max_length=64, index=True, sa_column_kwargs={"server_default": ""})
    crm_verified: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    amount_from_crm: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    crm_checked_at: datetime | None = None


class Draft(SQLModel, table=True):
    """What a user started to log, kept until the form is submitted, so nothing typed is lost."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    source: str = Field(default="command", max_length=16)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    channel_id: str = Field(default="", max_length=32)
    message_ts: str = Field(default="", max_length=32)
    thread_ts: str = Field(default="", max_length=32)
    permalink: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    raised_by_id: int | None = Field(default=None, foreign_key="person.id")
    # The form's answers (JSON) while the requester decides whether it repeats an existing request.
    answers: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    occurrence_id: int | None = Field(default=None, foreign_key="occurrence.id")
    created_at: datetime = Field(default_factory=utcnow)


class ThresholdCrossing(SQLModel, table=True):
    """A request crossed a rule in a window. Unique per window so a PM is alerted once."""

    __table_args__ = (UniqueConstraint("request_id", "rule", "window_key", name="uq_crossing_window"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    request_id: int = Field(foreign_key="feature_request.id", index=True)
    rule: str = Field(max_length=16)  # count | amount
    window_key: str = Field(max_length=64)
    occurrence_id: int | None = Field(default=None, foreign_key="occurrence.id")
    crossed_at: datetime = Field(default_factory=utcnow, index=True)
    reset_at: datetime | None = None


class RequestDecision(SQLModel, table=True):
    """Every PM decision on a request (planned, not yet, shipped, merged, reopened), kept as history."""

    __tablename__ = "request_decision"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    request_id: int = Field(foreign_key="feature_request.id", index=True)
    status: str = Field(max_length=16)  # open (reopened) | planned | not_yet | shipped | merged
    from_status: str = Field(default="", max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    link: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The short note requesters can forward to their customer (shipped).
    customer_note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    merged_into_id: int | None = Field(default=None, foreign_key="feature_request.id")
    moved_occurrences: int = 0
    by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)


class Outbox(SQLModel, table=True):
    """A message to send to Slack, exactly once, by the delivery worker."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    kind: str = Field(default="", max_length=32)
    method: str = Field(default="chat.postMessage", max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON arguments of the API call
    # Who to DM instead when the channel or thread is gone.
    fallback_user_id: str = Field(default="", max_length=32)
    # pending | sending | sent | failed | parked (the app is uninstalled from the workspace, 0014)
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_by: str = Field(default="", max_length=64)
    claimed_at: datetime | None = None
    # One claim of this row (0008): every update by the holder must match it, so a worker whose lease ran
    # out and was taken over cannot mark the row. Empty when nobody holds it.
    claim_token: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    # Until when the holder may work on it; confirmed and extended before each Slack call (0008).
    lease_until: datetime | None = None
    # The DM channel of a message sent to a user id, once known: looking in its history needs it (0008).
    dm_channel: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    sent_at: datetime | None = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    result_channel: str = Field(default="", max_length=32)
    result_ts: str = Field(default="", max_length=32)
    # Who hears about it when this message cannot be delivered, and how to name it to them (0004).
    report_to: str = Field(default="", max_length=32)
    report_label: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # An earlier attempt may have reached Slack (worker died, 5xx): look for it before posting again.
    check_before_send: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class OneOnOne(SQLModel, table=True):
    """A recurring peer 1:1 between a PM and a stakeholder."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    pm_id: int = Field(foreign_key="person.id", index=True)
    stakeholder_id: int = Field(foreign_key="person.id", index=True)
    cadence_weeks: int = 6
    weekday: int = 1  # 0 = Monday
    next_meeting: date
    last_meeting: date | None = None
    active: bool = True
    question_index: int = 0
    # The group DM (PM + stakeholder) the agenda goes to, from conversations.open (0005_schedules).
    channel_id: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class AgendaItem(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    oneonone_id: int = Field(foreign_key="oneonone.id", index=True)
    added_by_id: int = Field(foreign_key="person.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    # The meeting it was added for; an unresolved item from an earlier meeting is carried over.
    meeting: date | None = None
    done: bool = False
    done_at: datetime | None = None
    done_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)


class ScheduledSend(SQLModel, table=True):
    """A claim on one scheduled send (digest, agenda): the unique key makes it happen once."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    kind: str = Field(max_length=32)
    claimed_by: str = Field(default="", max_length=64)
    claimed_at: datetime = Field(default_factory=utcnow)


class HandledPayload(SQLModel, table=True):
    """A Slack payload already acted on (an event, a command, a click, a form submitted): the unique key
    turns Slack's retries and a person's double submits into no-ops. Kept a day, then pruned."""

    __tablename__ = "handled_payload"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    team_id: str = Field(default="", max_length=32)
    kind: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # Set when the listener finished; a claim left unfinished (the process died) may be taken over.
    done_at: datetime | None = None


class CustomerAlias(SQLModel, table=True):
    """A customer name folded into another by a PM's or admin's merge ("Acme" into "Acme Corp"): from then
    on both are one customer, counted once, its money once, thanked under one name."""

    __tablename__ = "customer_alias"
    __table_args__ = (UniqueConstraint("workspace_id", "alias_key", name="uq_customer_alias"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    alias_key: str = Field(max_length=255)  # customer_key() of the name merged away
    alias: str = Field(default="", max_length=255)  # that name as it was typed
    name: str = Field(max_length=255)  # the customer it now counts as
    moved: int = 0  # occurrences renamed by the merge
    by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)


class AreaChart(SQLModel, table=True):
    """An area's chart as uploaded to Slack on one day: drawn at most once a day, shared by every process."""

    __tablename__ = "area_chart"
    __table_args__ = (UniqueConstraint("area_id", "day", name="uq_area_chart_day"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    area_id: int = Field(foreign_key="productarea.id", index=True)
    day: date
    file_id: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class ClockHeartbeat(SQLModel, table=True):
    """Each clock process's last tick (0014): /healthz says 503 when every clock has been silent too long."""

    __tablename__ = "clock_heartbeat"

    id: int | None = Field(default=None, primary_key=True)
    clock_id: str = Field(max_length=128, unique=True)
    beat_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime = Field(default_factory=utcnow)


class Connection(SQLModel, table=True):
    """An admin's connection of the workspace to an issue tracker or CRM (0018): its credentials (tokens,
    site, webhook secret) kept as Fernet-encrypted JSON, never in the clear (integrations/connections.py)."""

    __table_args__ = (UniqueConstraint("workspace_id", "kind", name="uq_connection_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    kind: str = Field(max_length=16)  # jira | linear | github | hubspot | salesforce
    credentials: str = Field(sa_column=Column(Text, nullable=False))  # Fernet token of the JSON
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    last_checked_at: datetime | None = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class IssueLink(SQLModel, table=True):
    """A request linked to a tracker's issue (0018): several requests may share one issue. `state` is the
    issue's last known state category (open | started | done | canceled) and `state_label` its own words."""

    __tablename__ = "issue_link"
    __table_args__ = (UniqueConstraint("request_id", "kind", "issue_key", name="uq_issue_link"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    request_id: int = Field(foreign_key="feature_request.id", index=True)
    kind: str = Field(max_length=16)
    issue_key: str = Field(max_length=255, index=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    state: str = Field(default="", max_length=16)
    state_label: str = Field(default="", max_length=255)
    # How many state changes were seen: the key of what each change sends, so each is acted on once.
    changes: int = 0
    linked_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    checked_at: datetime | None = None


class TrackerDelivery(SQLModel, table=True):
    """A tracker's webhook delivery (or a poll's observation) already acted on (0018): its delivery id and
    the digest of its body are unique per kind, so a retry, a redelivery or a replay changes nothing."""

    __tablename__ = "tracker_delivery"
    __table_args__ = (
        UniqueConstraint("kind", "delivery_id", name="uq_tracker_delivery"),
        UniqueConstraint("kind", "body_sha", name="uq_tracker_delivery_body"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    delivery_id: str = Field(max_length=255)
    body_sha: str = Field(max_length=64)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id", index=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)


# The OAuth install's stores (0015): slack-sdk's SQLAlchemy installation and state stores read and write
# these. Declared here as the SDK defines them, so the migrations are checked against them like every table.
SLACK_INSTALLATIONS = SQLAlchemyInstallationStore.build_installations_table(
    SQLModel.metadata, "slack_installations"
)
SLACK_BOTS = SQLAlchemyInstallationStore.build_bots_table(SQLModel.metadata, "slack_bots")
SLACK_OAUTH_STATES = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    SQLModel.metadata, "slack_oauth_states"
)


class MatchPair(SQLModel, table=True):
    """What a requester answered at the "Same thing?" step (0017): a phrasing confirmed as the same as the
    request shown (``same``), or, on "It's new", one row per request shown that it is *not*. Stored once
    per form and request; the matcher stops suggesting a request to phrasings refused against it."""

    __tablename__ = "match_pair"
    __table_args__ = (UniqueConstraint("draft_id", "request_id", name="uq_match_pair_draft_request"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    request_id: int = Field(foreign_key="feature_request.id", index=True)
    draft_id: int = Field(foreign_key="draft.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    same: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class MatchAdapter(SQLModel, table=True):
    """A workspace's adapter on query embeddings (matching.adapter), fitted by the clock from its "Same as"
    answers and kept only while it beats the base model on held-back answers and the labelled set (0017)."""

    __tablename__ = "match_adapter"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", unique=True)
    matrix: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    model: str = Field(default="", max_length=64)
    pairs: int = 0  # "Same as" answers it was judged on (fitted on three in four)
    last_pair_id: int = 0
    held_base: float = 0.0
    held_adapted: float = 0.0
    fitted_at: datetime = Field(default_factory=utcnow)
