"""A workspace's connections to issue trackers and CRMs, credentials encrypted at rest.

The credentials (tokens, site, webhook secret) are one JSON object encrypted with Fernet (AES-128-CBC and
HMAC-SHA256, from `cryptography`) under the key in PARTNERBOT_SECRET_KEY (a Fernet key, or any secret of
32 characters or more, stretched to one with SHA-256). Several keys may be given,
comma-separated: the first encrypts, any of them decrypts (rotating the key: put the new one first,
and `rotate` re-encrypts every row). Without a key nothing can be connected: `connect` says so in one line.

Nothing is ever sent to a service a workspace has not connected: every caller asks `credentials(...)`
first, and a missing connection means no call at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from integrations.base import KINDS
from storage.models import Connection, utcnow

KEY_ENV = "PARTNERBOT_SECRET_KEY"
NO_KEY = (
    "Connections need an encryption key for the credentials, and this app has none: set PARTNERBOT_SECRET_KEY "
    "(make one with `python -m integrations.keygen`) and restart it."
)
BAD_KEY = (
    "PARTNERBOT_SECRET_KEY is too short to be a key (a Fernet key, or any secret of at least 32 characters): "
    "make one with `python -m integrations.keygen`."
)


class SecretKeyMissing(RuntimeError):
    """No usable PARTNERBOT_SECRET_KEY: the message is the one line to show the admin."""


class UnreadableCredentials(RuntimeError):
    """Stored credentials the current key cannot decrypt (the key changed without keeping the old one)."""


def _fernet() -> MultiFernet:
    raw = os.environ.get(KEY_ENV, "").strip()
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise SecretKeyMissing(NO_KEY)
    return MultiFernet([_one(k) for k in keys])


def _one(key: str) -> Fernet:
    """A Fernet key as it is; any other secret of 32 characters or more (Heroku's generated secrets are 64
    hex characters) stretched to one with SHA-256."""
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        pass
    if len(key) < 32:
        raise SecretKeyMissing(BAD_KEY)
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def key_problem() -> str | None:
    """None when credentials can be encrypted; otherwise the one line that says why not."""
    try:
        _fernet()
    except SecretKeyMissing as e:
        return str(e)
    return None


def encrypt(values: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    try:
        data = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise UnreadableCredentials(
            "the stored credentials can't be decrypted with PARTNERBOT_SECRET_KEY (was the key changed?)"
        ) from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown connection kind {kind!r}")


def get_connection(session: Session, *, workspace_id: int, kind: str) -> Connection | None:
    return session.exec(
        select(Connection).where(Connection.workspace_id == workspace_id, Connection.kind == kind)
    ).first()


def save_connection(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    credentials: dict[str, str],
    by_user_id: int | None,
    now: datetime | None = None,
) -> Connection:
    """Connect (or reconnect, replacing the credentials) the workspace to `kind`. Raises SecretKeyMissing
    when there is no key to encrypt with: nothing is stored in the clear."""
    _check_kind(kind)
    now = now or utcnow()
    sealed = encrypt(credentials)
    row = get_connection(session, workspace_id=workspace_id, kind=kind)
    if row is None:
        row = Connection(workspace_id=workspace_id, kind=kind, credentials=sealed, created_by_id=by_user_id)
        row.created_at = now
        row.last_checked_at = now
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:  # connected a moment ago by another submit: replace its credentials
            row = get_connection(session, workspace_id=workspace_id, kind=kind)
    row.credentials = sealed
    row.created_by_id = by_user_id
    row.created_at = now
    row.last_checked_at = now
    row.last_error = ""
    session.add(row)
    session.flush()
    return row


def credentials(session: Session, *, workspace_id: int, kind: str) -> dict[str, str] | None:
    """The workspace's credentials for `kind`, or None when it is not connected (or they can't be read:
    then nothing may be sent either)."""
    row = get_connection(session, workspace_id=workspace_id, kind=kind)
    if row is None:
        return None
    try:
        return decrypt(row.credentials)
    except (UnreadableCredentials, SecretKeyMissing):
        return None


def remove_connection(session: Session, *, workspace_id: int, kind: str) -> bool:
    """Disconnect; True when there was a connection."""
    row = get_connection(session, workspace_id=workspace_id, kind=kind)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def connected_kinds(session: Session, *, workspace_id: int) -> list[str]:
    return sorted(
        session.exec(select(Connection.kind).where(Connection.workspace_id == workspace_id)).all(),
        key=KINDS.index,
    )


def connections(session: Session, *, workspace_id: int) -> list[Connection]:
    rows = session.exec(select(Connection).where(Connection.workspace_id == workspace_id)).all()
    return sorted(rows, key=lambda r: KINDS.index(r.kind) if r.kind in KINDS else len(KINDS))


def of_kind(session: Session, *, kind: str) -> list[Connection]:
    """Every workspace's connection of one kind (webhooks find theirs by its secret; polling visits each)."""
    return list(session.exec(select(Connection).where(Connection.kind == kind).order_by(Connection.id)).all())


def note_check(session: Session, *, connection_id: int, error: str = "", now: datetime | None = None) -> None:
    """Record the outcome of the latest call to the service (shown by `/partnerbot connections`)."""
    row = session.get(Connection, connection_id)
    if row is None:
        return
    row.last_checked_at = now or utcnow()
    row.last_error = error[:500]
    session.add(row)


def rotate(session: Session) -> int:
    """Re-encrypt every connection's credentials under the first key; returns how many rows."""
    fernet = _fernet()
    n = 0
    for row in session.exec(select(Connection)).all():
        row.credentials = fernet.rotate(row.credentials.encode()).decode()
        session.add(row)
        n += 1
    return n
