"""Values the bot writes into buttons and `private_metadata`, read back strictly in one place.

Slack hands them back unchanged, but any client holding a valid session can send a payload with other
values: one small model per callback says what the bot wrote, and anything else is `ForgedValue`, which
the app answers with a clear message (never a 500). Ownership (is this draft, occurrence or 1:1 the
acting user's?) is checked by the listener once it has loaded the row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Row ids the bot writes are positive integers that fit a BIGINT.
RowId = Annotated[int, Field(strict=True, gt=0, lt=2**63)]
# Slack channel ids (C…, D…, G…) or empty where the button was not in a channel.
ChannelId = Annotated[str, Field(pattern=r"^[A-Z0-9]{0,32}$")]
# Message timestamps as Slack writes them ("1700000001.000200"), or empty.
MessageTs = Annotated[str, Field(pattern=r"^(\d{1,12}\.\d{1,8})?$")]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")]

_ID = re.compile(r"[1-9][0-9]{0,17}")


class ForgedValue(ValueError):
    """A button value or form metadata came back in a shape the bot never writes."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} came back in a shape I never write")
        self.what = what


class _Written(BaseModel):
    # Extra keys are ignored (older messages may carry more); the keys read are checked strictly.
    model_config = ConfigDict(extra="ignore", frozen=True)


class DraftRef(_Written):
    """The request form and its "Same thing?" step: the draft saved when the form opened."""

    draft: RowId


class DecisionForm(_Written):
    """Not yet / Shipped / Merge / Split forms: the request, and the message whose button opened it."""

    r: RowId
    c: ChannelId = ""
    ts: MessageTs = ""


class AgendaForm(_Written):
    """The add-an-item form of a 1:1, and the group DM to announce the item in."""

    o: RowId
    c: ChannelId = ""


class FollowupChoice(_Written):
    """A one-click answer (frequency or impact) to a follow-up question."""

    o: RowId
    v: Code


class FollowupQuestion(_Written):
    """*Answer* on a follow-up question: which occurrence and which question."""

    o: RowId
    f: Code


class FollowupForm(FollowupQuestion):
    """The one-question form, and the DM whose buttons it refreshes afterwards."""

    c: ChannelId = ""
    t: MessageTs = ""


class MessageRef(_Written):
    """The message a :memo: reaction was on (the "Log as request" offer's button), for whom, sealed:
    the button opens that message's text, so a forged channel must not reveal another channel's."""

    c: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,32}$")]
    t: Annotated[str, Field(pattern=r"^\d{1,12}\.\d{1,8}$")]
    u: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,32}$")]
    s: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]

    @staticmethod
    def seal(key: str, channel: str, ts: str, user: str) -> str:
        return hmac.new(key.encode(), f"{channel}:{ts}:{user}".encode(), hashlib.sha256).hexdigest()[:32]

    @classmethod
    def write(cls, key: str, channel: str, ts: str, user: str) -> str:
        return json.dumps({"c": channel, "t": ts, "u": user, "s": cls.seal(key, channel, ts, user)})

    def check(self, key: str, user: str, what: str) -> MessageRef:
        """Itself when it was written for `user` with `key`; ForgedValue otherwise."""
        if self.u != user or not hmac.compare_digest(self.s, self.seal(key, self.c, self.t, self.u)):
            raise ForgedValue(what)
        return self


class ConnectForm(_Written):
    """`/partnerbot connect <kind>`'s form: which service it connects."""

    k: Literal["jira", "linear", "github", "hubspot", "salesforce"]


class IssueRefValue(_Written):
    """*Shipped…* / *Not yet…* offered when a linked issue closed: the request and the issue link."""

    r: RowId
    l: RowId  # noqa: E741 (the bot's own short key)


class AreaForm(_Written):
    """The Home tab's edit-focus and edit-rules forms, and "Suggest a change to these rules": the area."""

    a: RowId


CustomerName = Annotated[str, Field(min_length=1, max_length=255)]


class CustomerPair(_Written):
    """*Merge into …* on two customer names that look like one: keep `k`, fold `f` into it."""

    k: CustomerName
    f: CustomerName


class CadenceChoice(_Written):
    """*Meet every N weeks* on a 1:1 agenda: the 1:1 and the cadence suggested."""

    o: RowId
    w: Annotated[int, Field(strict=True, ge=1, le=12)]


Model = TypeVar("Model", bound=_Written)


def read(model: type[Model], raw: object, what: str) -> Model:
    """`raw` (the JSON string as it came back) as `model`, or ForgedValue naming `what`."""
    if not isinstance(raw, str | bytes) or not raw:
        raise ForgedValue(what)
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        raise ForgedValue(what) from None


def read_id(raw: object, what: str) -> int:
    """A row id written as a plain button value ("42"), or ForgedValue."""
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        raise ForgedValue(what)
    return int(raw)


def as_id(raw: object) -> int | None:
    """A row id a person typed ("#42" with the # already stripped), or None; never raises."""
    return int(raw) if isinstance(raw, str) and _ID.fullmatch(raw) else None
