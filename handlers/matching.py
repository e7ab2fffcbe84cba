"""The process's index of requests for repeat suggestions, kept in step with the database.

Each process (web workers, shell) keeps its own in-memory index: new requests are loaded by id on
every look-up, and suggestions are re-checked against the database so merged requests never show.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.matching import Matcher, load_matcher
from storage.models import FeatureRequest, ProductArea

# Added to a suggestion's score when it is in the area the requester picked (scores are 0..1).
SAME_AREA_BONUS = 0.05

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

    @property
    def backend(self) -> str:
        return self.matcher.backend

    def refresh(self, session: Session) -> None:
        """Load requests created since the last look-up (by any process), storing missing vectors."""
        with self._lock:
            missing = load_matcher(session, self.matcher, since_id=self._max_id)
            newest = session.exec(
                select(FeatureRequest.id).order_by(FeatureRequest.id.desc()).limit(1)
            ).first()
            self._max_id = max(self._max_id, newest or 0)
        if missing:
            self._store_vectors(session, missing)

    def warm_up(self, engine: Engine) -> None:
        """Load the model and the stored requests before serving: a form submitted right after start-up
        must still get its suggestions within Slack's 3-second deadline."""
        if self.matcher.backend == "embedding":
            self.matcher.vector("warm up")
        with Session(engine) as session:
            self.refresh(session)
            session.commit()  # vectors computed for requests stored without one

    def _store_vectors(self, session: Session, request_ids: list[int]) -> None:
        model = getattr(self.matcher, "model_name", "") or self.matcher.backend
        for request in session.exec(select(FeatureRequest).where(FeatureRequest.id.in_(request_ids))):
            vector = self.matcher.vector(request.title)
            if vector is not None:
                request.embedding, request.embedding_model = vector, model
                session.add(request)

    def add(self, session: Session, request: FeatureRequest) -> None:
        """Index a request just created in this process (and keep its vector with it)."""
        vector = self.matcher.vector(request.title)
        if vector is not None:
            request.embedding = vector
            request.embedding_model = getattr(self.matcher, "model_name", "") or self.matcher.backend
            session.add(request)
        with self._lock:
            self.matcher.add(
                request_id=request.id,
                scope=(request.workspace_id, request.area_id),
                text=request.title,
                vector=vector,
            )

    def suggest(
        self, session: Session, *, workspace_id: int, area_id: int, text: str, limit: int = 3
    ) -> list[Suggestion]:
        """Likely repeats in the whole workspace, the chosen area's first among equals: a requester who
        picked the wrong area still finds the request (which then keeps its own area)."""
        self.refresh(session)
        area_ids = session.exec(select(ProductArea.id).where(ProductArea.workspace_id == workspace_id)).all()
        found: list[tuple[int, float]] = []
        with self._lock:
            for other in set(area_ids) | {area_id}:
                hits = self.matcher.suggest(scope=(workspace_id, other), text=text, limit=limit + 2)
                bonus = SAME_AREA_BONUS if other == area_id else 0.0
                found += [(request_id, score + bonus) for request_id, score in hits]
        if not found:
            return []
        found.sort(key=lambda hit: -hit[1])
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
