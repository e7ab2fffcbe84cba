"""The queries that fill and refresh a Matcher (matching.index) from the database.

Both read only indexed columns ranges: new requests by primary key (``id > since_id``), re-learnt ones
by ``embedding_at`` (its own index), so a refresh costs the same whatever the store's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import FeatureRequest, MatchAdapter, MatchPair, Occurrence

# Rows fetched per round trip while streaming the start-up load (one query).
LOAD_CHUNK = 2000


def _index_columns() -> tuple:
    return (
        FeatureRequest.id,
        FeatureRequest.workspace_id,
        FeatureRequest.area_id,
        FeatureRequest.title,
        FeatureRequest.status,
        FeatureRequest.embedding,
        FeatureRequest.embedding_model,
    )


def _index_rows(matcher: Any, rows: Iterable[Any]) -> list[int]:
    """Index rows of ``_index_columns()`` (merged ones are dropped); return the ids whose stored vector
    doesn't fit this matcher's model (indexed from the title meanwhile)."""
    from matching.encoder import EARLIER_TAGS

    model_name = matcher.model_name
    usable = {model_name, *EARLIER_TAGS} if model_name else set()
    missing: list[int] = []
    items = []
    for rid, workspace_id, area_id, title, status, embedding, embedding_model, *_ in rows:
        if status == "merged":
            matcher.remove(rid)
            continue
        vector = embedding if embedding_model in usable else None
        if model_name and matcher.from_bytes(vector) is None:
            missing.append(rid)
            vector = None
        items.append((rid, (workspace_id, area_id), title, vector, status))
    matcher.add_many(items)
    return missing


def load_matcher(
    session: Session, matcher: Any, *, since_id: int = 0, recheck: int = 0
) -> tuple[list[int], int]:
    """Index every not-merged request with ``id > since_id``, in one streamed query.

    ``recheck``: also look at the ``recheck`` ids up to ``since_id`` and index those not indexed yet. On
    PostgreSQL a transaction can take its id from the sequence before another one and commit after it:
    a process that read past that id meanwhile would otherwise never see the request (SQLite hands out
    ids and commits in the same order). The same query reads them, leaving out the ids indexed already.

    Returns (ids whose vectors were missing, highest id seen). Stored vectors are reused when
    ``embedding_model`` equals ``matcher.model_name``; the others are indexed from the title and their
    ids returned so the caller can compute and store their vectors from all their phrasings. The
    string backend never reports missing vectors.
    """
    missing: list[int] = []
    last = since_id or 0
    wanted = FeatureRequest.id > last
    if recheck and last:
        known = [rid for rid in range(max(1, last - recheck + 1), last + 1) if rid in matcher]
        # One range of the primary key (so both databases walk only its end), then what to keep of it.
        wanted = and_(
            FeatureRequest.id > max(0, last - recheck),
            or_(
                wanted,
                and_(FeatureRequest.id.not_in(known) if known else true(), FeatureRequest.status != "merged"),
            ),
        )
    result = session.exec(
        select(*_index_columns())
        .where(wanted)
        .order_by(FeatureRequest.id)
        .execution_options(yield_per=LOAD_CHUNK)
    )
    for chunk in result.partitions(LOAD_CHUNK):
        last = max(last, chunk[-1][0])
        missing += _index_rows(matcher, chunk)
    return missing, last


def phrasings_of(session: Session, request_ids: list[int]) -> dict[int, list[str]]:
    """Every occurrence's text of these requests, oldest first, by request id (one query)."""
    heard: dict[int, list[str]] = {}
    for request_id, text in session.exec(
        select(Occurrence.request_id, Occurrence.text)
        .where(Occurrence.request_id.in_(request_ids))
        .order_by(Occurrence.id)
    ):
        heard.setdefault(request_id, []).append(text)
    return heard


RESPELL_BATCH = 300


def respell_vectors(
    session: Session, get_matcher: Callable[[], Any], *, now: datetime, limit: int = RESPELL_BATCH
) -> int:
    """Recompute up to ``limit`` stored vectors tagged with an earlier way of preparing texts
    (matching.encoder.EARLIER_TAGS) from all their phrasings, stamped so every process re-indexes them
    (``load_relearned``) with ``get_matcher()``'s model, made only when there is work. Returns how many
    were recomputed; 0 once none is left. Two clocks doing it at once compute the same vectors."""
    from matching.encoder import EARLIER_TAGS

    requests = session.exec(
        select(FeatureRequest)
        .where(FeatureRequest.embedding_model.in_(EARLIER_TAGS), FeatureRequest.status != "merged")
        .order_by(FeatureRequest.id)
        .limit(limit)
    ).all()
    matcher = get_matcher() if requests else None
    if matcher is None or not matcher.model_name:
        return 0
    heard = phrasings_of(session, [r.id for r in requests])
    for request in requests:
        request.embedding = matcher.phrasing_vector([request.title, *heard.get(request.id, [])])
        request.embedding_model = matcher.model_name
        request.embedding_at = now
        session.add(request)
    return len(requests)


def load_relearned(session: Session, matcher: Any, *, since: datetime, up_to_id: int) -> datetime:
    """Re-index requests (ids up to ``up_to_id``, already loaded) whose vector was re-learnt at or after
    ``since`` by any process: a repeat confirmed or a merge elsewhere moves the request for every
    process. Merged ones are dropped. Returns the latest ``embedding_at`` seen (or ``since``).

    Only ``embedding_at`` is in the WHERE clause: with the id bound there too, SQLite walked the
    primary key instead of this column's index, reading every stored vector on every look-up."""
    rows = session.exec(
        select(*_index_columns(), FeatureRequest.embedding_at).where(FeatureRequest.embedding_at >= since)
    ).all()
    _index_rows(matcher, [row for row in rows if row[0] <= up_to_id])  # another model's vector: title
    return max([since, *(row[-1] for row in rows)])


def record_answer(
    session: Session,
    *,
    workspace_id: int,
    draft_id: int,
    text: str,
    same_as: int | None,
    shown: list[int],
) -> list[int]:
    """Keep what the requester answered at the "Same thing?" step: ``same_as`` the request they picked
    (a positive pair), or on "It's new" every request ``shown`` (negative pairs). Only requests of this
    workspace count (the ids come from the submitted view). Once per form and request: a second
    submission of the same form adds nothing. Returns the request ids of the pairs stored."""
    wanted = [same_as] if same_as is not None else list(dict.fromkeys(shown))
    if not wanted or not (text or "").strip():
        return []
    known = set(
        session.exec(
            select(FeatureRequest.id).where(
                FeatureRequest.id.in_(wanted), FeatureRequest.workspace_id == workspace_id
            )
        )
    )
    already = set(
        session.exec(
            select(MatchPair.request_id).where(
                MatchPair.draft_id == draft_id, MatchPair.request_id.in_(wanted)
            )
        )
    )
    stored: list[int] = []
    for request_id in wanted:
        if request_id not in known or request_id in already:
            continue
        try:
            with session.begin_nested():
                session.add(
                    MatchPair(
                        workspace_id=workspace_id,
                        request_id=request_id,
                        draft_id=draft_id,
                        text=text,
                        same=same_as is not None,
                    )
                )
            stored.append(request_id)
        except IntegrityError:  # the same form, submitted twice at once: the other one stored it
            pass
    return stored


def load_refused(session: Session, *, since_id: int = 0) -> list[tuple[int, int, int, str]]:
    """Negative pairs stored after ``since_id``: (pair id, workspace id, request id, phrasing)."""
    return list(
        session.exec(
            select(MatchPair.id, MatchPair.workspace_id, MatchPair.request_id, MatchPair.text)
            .where(MatchPair.id > since_id, MatchPair.same == False)  # noqa: E712
            .order_by(MatchPair.id)
        )
    )


def refit_adapters(session: Session, *, now: datetime) -> list[tuple[int, str]]:
    """For each workspace with at least matching.adapter.MIN_PAIRS "Same as" answers, newer than its
    stored adapter's: fit, judge (matching.adapter.decide) and store the adapter, or drop the stored one
    when it is refused. Returns (workspace id, verdict) per workspace judged. Needs the model."""
    import numpy as np

    from matching import adapter
    from matching.encoder import VECTOR_TAG, load_encoder
    from matching.normalize import normalize

    rows = session.exec(
        select(MatchPair.workspace_id, func.count(MatchPair.id), func.max(MatchPair.id))
        .where(MatchPair.same == True)  # noqa: E712
        .group_by(MatchPair.workspace_id)
    ).all()
    stored = {a.workspace_id: a for a in session.exec(select(MatchAdapter))}
    todo = [(ws, last) for ws, count, last in rows if count >= adapter.MIN_PAIRS]
    todo = [
        (ws, last)
        for ws, last in todo
        if ws not in stored or stored[ws].last_pair_id < last or stored[ws].model != VECTOR_TAG
    ]
    if not todo:
        return []
    encoder = load_encoder()

    def encode(texts: list[str]) -> np.ndarray:
        return encoder.encode([normalize(t) or t for t in texts])

    labelled = adapter.labelled_recall(encode)
    verdicts = []
    for workspace_id, last in todo:
        requests = session.exec(
            select(FeatureRequest.id, FeatureRequest.embedding).where(
                FeatureRequest.workspace_id == workspace_id,
                FeatureRequest.status != "merged",
                FeatureRequest.embedding_model == VECTOR_TAG,
            )
        ).all()
        row_of = {rid: i for i, (rid, vec) in enumerate(requests) if vec and len(vec) == 384 * 4}
        if not row_of:
            continue
        candidates = adapter.unit(
            np.stack([np.frombuffer(vec, dtype=np.float32) for rid, vec in requests if rid in row_of])
        )
        row_of = {rid: i for i, rid in enumerate(rid for rid, _ in requests if rid in row_of)}
        pairs = [
            (pid, text, rid)
            for pid, text, rid in session.exec(
                select(MatchPair.id, MatchPair.text, MatchPair.request_id)
                .where(MatchPair.workspace_id == workspace_id, MatchPair.same == True)  # noqa: E712
                .order_by(MatchPair.id)
            )
            if rid in row_of and (text or "").strip()
        ]
        if len(pairs) < adapter.MIN_PAIRS:
            continue
        verdict = adapter.decide(
            [pid for pid, _, _ in pairs],
            adapter.unit(encode([text for _, text, _ in pairs])),
            [row_of[rid] for _, _, rid in pairs],
            candidates,
            labelled,
        )
        old = stored.get(workspace_id)
        if verdict.adapter is None:
            if old is not None:
                session.delete(old)
        else:
            row = old or MatchAdapter(workspace_id=workspace_id, matrix=b"")
            row.matrix = verdict.adapter.astype(np.float32).tobytes()
            row.model = VECTOR_TAG
            row.pairs = verdict.pairs
            row.last_pair_id = last
            row.held_base, row.held_adapted = verdict.held_base, verdict.held_adapted
            row.fitted_at = now
            session.add(row)
        verdicts.append((workspace_id, verdict.reason))
    return verdicts


def load_adapters(session: Session) -> dict[int, bytes]:
    """Every workspace's stored adapter (float32 bytes) fitted on this version's vectors, by workspace id."""
    from matching.encoder import VECTOR_TAG

    rows = session.exec(
        select(MatchAdapter.workspace_id, MatchAdapter.matrix).where(MatchAdapter.model == VECTOR_TAG)
    )
    return {ws: matrix for ws, matrix in rows}
