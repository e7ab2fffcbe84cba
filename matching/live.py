"""The process's index of requests for repeat suggestions, kept in step with the database.

Each process keeps one in-memory index (gunicorn's web workers inherit the one their parent loaded
before forking, then keep it current themselves): new requests are loaded by id on every look-up,
and suggestions are re-checked against the database so merged requests never show.

A request is matched on every phrasing confirmed as the same thing, not only its title: each "Same as
this" and each merge re-learns its vector (the mean of its phrasings), stamps ``embedding_at``, and
every process re-indexes what was re-learned since it last looked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from matching.index import Matcher
from storage.matching import load_adapters, load_matcher, load_refused, load_relearned, phrasings_of
from storage.models import FeatureRequest, Occurrence, utcnow

# Added to a suggestion's score when it is in the area the requester picked (scores are 0..1).
SAME_AREA_BONUS = 0.05
# Re-learned vectors are looked for this far before the last one seen: a transaction that stamped an
# earlier time but committed later is still picked up (re-indexing twice is harmless).
RELEARN_OVERLAP = timedelta(minutes=2)
# Ids below the highest one seen that each look-up checks again: on PostgreSQL a request can commit after
# requests with higher ids (storage.matching.load_matcher).
LATE_IDS = 64
# Phrasings confirmed "It's new" against the requests shown (storage.matching.record_answer) and the
# workspaces' adapters (matching.adapter) are read at most this often per process (seconds); the process
# that stored a refusal applies it at once.
REFUSED_EVERY = 30.0

log = logging.getLogger(__name__)


@dataclass
class Suggestion:
    request: FeatureRequest
    score: float


class MatchIndex:
    def __init__(self, *, prefer_embeddings: bool = True) -> None:
        self.matcher = Matcher(prefer_embeddings=prefer_embeddings)
        self._lock = threading.Lock()
        self._max_id = 0
        self._learned_seen: datetime | None = None
        self._refused_seen = 0  # the last match_pair id read
        self._refused_read: float | None = None  # time.monotonic() of the last read

    @property
    def backend(self) -> str:
        return self.matcher.backend

    def refresh(self, session: Session) -> None:
        """Load requests created since the last look-up (by any process), storing missing vectors, and
        re-index those whose vector another process re-learned."""
        with self._lock:
            missing = self._refresh_locked(session)
        if missing:
            self._store_vectors(session, missing)

    def _refresh_locked(self, session: Session) -> list[int]:
        """refresh() under the lock; returns the ids whose vectors are to be computed and stored."""
        missing, newest = load_matcher(session, self.matcher, since_id=self._max_id, recheck=LATE_IDS)
        self._max_id = max(self._max_id, newest)
        if self.matcher.backend == "embedding":
            if self._learned_seen is None:  # everything up to now came in with load_matcher
                self._learned_seen = session.exec(
                    select(FeatureRequest.embedding_at)
                    .where(FeatureRequest.embedding_at.is_not(None))
                    .order_by(FeatureRequest.embedding_at.desc())
                    .limit(1)
                ).first() or datetime(1970, 1, 1, tzinfo=UTC)
            else:
                latest = load_relearned(
                    session,
                    self.matcher,
                    since=self._learned_seen - RELEARN_OVERLAP,
                    up_to_id=self._max_id,
                )
                self._learned_seen = max(self._learned_seen, latest)
            if self._refused_read is None or time.monotonic() - self._refused_read >= REFUSED_EVERY:
                self._refused_read = time.monotonic()
                for pair_id, workspace_id, request_id, text in load_refused(
                    session, since_id=self._refused_seen
                ):
                    self.matcher.refuse(workspace_id=workspace_id, request_id=request_id, text=text)
                    self._refused_seen = max(self._refused_seen, pair_id)
                self.matcher.set_adapters(load_adapters(session))
        return missing

    def refused(self, *, workspace_id: int, request_ids: list[int], text: str) -> None:
        """The requester said "It's new" to these suggestions: stop suggesting them for this phrasing
        here at once (the other processes read the stored pairs within REFUSED_EVERY)."""
        with self._lock:
            for request_id in request_ids:
                self.matcher.refuse(workspace_id=workspace_id, request_id=request_id, text=text)

    def warm_up(self, engine: Engine) -> None:
        """Load the model and the stored requests before serving: a form submitted right after start-up
        must still get its suggestions within Slack's 3-second deadline."""
        if self.matcher.backend == "embedding":
            self.matcher.vector("warm up")
        with Session(engine) as session:
            self.refresh(session)
            session.commit()  # vectors computed for requests stored without one

    def _store_vectors(self, session: Session, request_ids: list[int]) -> None:
        """Vectors for requests stored without one (or by another model), from all their phrasings."""
        for start in range(0, len(request_ids), 500):
            chunk = request_ids[start : start + 500]
            heard = phrasings_of(session, chunk)
            for request in session.exec(select(FeatureRequest).where(FeatureRequest.id.in_(chunk))):
                self._index(session, request, heard.get(request.id, []), stamp=False)

    def add(self, session: Session, request: FeatureRequest) -> None:
        """Index a request just created in this process (and keep its vector with it)."""
        self.learn(session, request, stamp=False)

    def learn(self, session: Session, request: FeatureRequest, *, stamp: bool = True) -> None:
        """(Re-)index a request on its title and every phrasing confirmed as the same thing, keep the
        vector with it, and (``stamp``) tell the other processes to re-index it."""
        heard = session.exec(
            select(Occurrence.text).where(Occurrence.request_id == request.id).order_by(Occurrence.id)
        )
        self._index(session, request, list(heard), stamp=stamp)

    def _index(self, session: Session, request: FeatureRequest, heard: list[str], *, stamp: bool) -> None:
        vector = self.matcher.phrasing_vector([request.title, *heard])
        if vector is not None:
            request.embedding = vector
            request.embedding_model = self.matcher.model_name
            if stamp:
                request.embedding_at = utcnow()
            session.add(request)
        with self._lock:
            self.matcher.add(
                request_id=request.id,
                scope=(request.workspace_id, request.area_id),
                text=request.title,
                vector=vector,
                status=request.status,
            )

    def forget(self, request_id: int) -> None:
        """Drop a request from this process's index (merged into another)."""
        with self._lock:
            self.matcher.remove(request_id)

    def suggest(
        self,
        session: Session,
        *,
        workspace_id: int,
        area_id: int,
        text: str,
        limit: int = 3,
        wait: float | None = None,
    ) -> list[Suggestion] | None:
        """Likely repeats in the whole workspace, the chosen area's first among equals: a requester who
        picked the wrong area still finds the request (which then keeps its own area).

        ``wait``: the most seconds to queue behind other look-ups of this process; past it, None (not
        checked) instead of a late answer. Three queries whatever the store's size: new requests,
        re-learnt ones, the suggested rows. The text is encoded before queueing: look-ups of one process
        wait on each other only for the index itself."""
        self.matcher.prepare(text)
        if not self._lock.acquire(timeout=-1 if wait is None else max(0.0, wait)):
            log.warning("repeat check skipped: the matcher stayed busy for %.1f s", wait)
            return None
        try:
            missing = self._refresh_locked(session)
            scopes = [scope for scope in self.matcher.scopes() if scope[0] == workspace_id]
            found = self.matcher.suggest_many(
                scopes=scopes, text=text, limit=limit + 2, bonus={(workspace_id, area_id): SAME_AREA_BONUS}
            )
        finally:
            self._lock.release()
        if missing:
            self._store_vectors(session, missing)
        if not found:
            return []
        ids = [request_id for request_id, _ in found]
        rows = {r.id: r for r in session.exec(select(FeatureRequest).where(FeatureRequest.id.in_(ids)))}
        suggestions = []
        for request_id, score in found:
            request = rows.get(request_id)
            if request is None or request.workspace_id != workspace_id or request.status == "merged":
                if request is not None and request.status == "merged":
                    with self._lock:
                        self.matcher.remove(request_id)
                continue
            suggestions.append(Suggestion(request=request, score=score))
        return suggestions[:limit]
