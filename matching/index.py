"""The in-memory index behind repeat suggestions: ``Matcher``.

Two backends behind one interface:

* ``"embedding"`` (the default): all-MiniLM-L6-v2 sentence vectors (matching.encoder). Every scope
  keeps its vectors in one L2-normalised float32 matrix, so a look-up is one matrix-vector product
  plus ``argpartition``.
* ``"string"``: the fallback when the model cannot load (matching.fallback); says so once in the log.

A *scope* is ``(workspace_id, area_id)``: suggestions never cross it.

A request is indexed on one vector. With the embedding backend that is the mean of its phrasings
(``phrasing_vector``: the title, then each wording confirmed "Same as this" or brought in by a merge),
so the more ways a request has been asked, the more ways it is recognised. The string backend matches
on titles alone.

Scores are in 0..1, higher is more alike; they are comparable only within one backend.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

from matching import calibration
from matching.encoder import EMBEDDING_DIM, MODEL_NAME, load_encoder
from matching.fallback import STRING_CANDIDATES, STRING_MIN_SCORE, StringScope, string_score
from matching.normalize import feature_weights, features, normalize, terms

log = logging.getLogger(__name__)

# A request is matched on the mean of the phrasings confirmed as the same thing (its title first, then
# how each repeat was typed); at most this many distinct phrasings, the title and the latest ones.
MAX_PHRASINGS = 32
# Texts whose vectors are kept, so the same words typed again cost no encoding.
CACHE_SIZE = 2048


class VectorScope:
    """One scope's vectors: a growable float32 matrix, the request id of each row, and which are live."""

    def __init__(self, dim: int) -> None:
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self.ids: list[int] = []
        self.live = 0

    def add(self, request_id: int, vector: np.ndarray) -> int:
        slot = len(self.ids)
        if slot >= len(self.matrix):
            cap = max(1024, 2 * len(self.matrix))
            grown = np.zeros((cap, self.matrix.shape[1]), dtype=np.float32)
            grown[:slot] = self.matrix[:slot]
            self.matrix = grown
            self.alive = np.concatenate([self.alive, np.zeros(cap - len(self.alive), dtype=bool)])
        self.matrix[slot] = vector
        self.alive[slot] = True
        self.ids.append(request_id)
        self.live += 1
        return slot

    def remove(self, slot: int) -> None:
        if self.alive[slot]:
            self.alive[slot] = False
            self.matrix[slot] = 0.0
            self.live -= 1


def choose_backend(prefer_embeddings: bool) -> str:
    """``"embedding"`` when the model loads, else ``"string"`` with one log line saying why."""
    if not prefer_embeddings:
        return "string"
    try:
        load_encoder()
    except Exception as e:  # a missing package, a damaged file: the bot still runs, on strings
        log.warning(
            "semantic matcher unavailable, suggesting repeats by string similarity instead "
            "(recognises far fewer rewordings): %s",
            e,
        )
        return "string"
    return "embedding"


class Matcher:
    """An in-memory index of requests per scope that suggests likely repeats of a new text."""

    def __init__(self, *, prefer_embeddings: bool = True) -> None:
        self.backend: str = choose_backend(prefer_embeddings)
        self._lock = threading.RLock()
        self._string: dict[tuple[int, int], StringScope] = {}
        self._vectors: dict[tuple[int, int], VectorScope] = {}
        self._where: dict[int, tuple[tuple[int, int], int]] = {}  # request id -> (scope, slot)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.max_id = 0  # highest request id ever added
        # The embedding backend's step cut-off (None: matching.calibration's); the benchmark varies it.
        self.step_min: float | None = None

    # -- model -------------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """What FeatureRequest.embedding_model must equal for a stored vector to be reused."""
        return MODEL_NAME if self.backend == "embedding" else ""

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 vectors of already-normalised texts (cached per text)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vecs = load_encoder().encode(missing)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = v
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self._cache[t]
            self._cache.move_to_end(t)
        return out

    def clear_cache(self) -> None:
        """Forget the cached vectors of texts seen lately (the benchmark times cold look-ups)."""
        with self._lock:
            self._cache.clear()

    def vector(self, text: str) -> bytes | None:
        """The float32 bytes of the text's embedding to store with the request; None for strings."""
        if self.backend != "embedding":
            return None
        with self._lock:
            return self._encode([normalize(text) or text or ""])[0].tobytes()

    def phrasing_vector(self, texts: Sequence[str]) -> bytes | None:
        """The vector a request is matched on: the normalised mean of its distinct phrasings' vectors.

        ``texts`` is the title first, then every phrasing confirmed as the same request, oldest first.
        Phrasings that normalise alike count once, so a request asked fifty times in the same words
        is not pulled towards them; past ``MAX_PHRASINGS`` the title and the latest ones are kept.
        None for the string backend, which matches on the title alone.
        """
        if self.backend != "embedding":
            return None
        distinct = list(dict.fromkeys(t for t in ((normalize(x or "") or (x or "")) for x in texts) if t))
        if not distinct:
            distinct = [""]
        if len(distinct) > MAX_PHRASINGS:
            distinct = distinct[:1] + distinct[-(MAX_PHRASINGS - 1) :]
        with self._lock:
            vectors = self._encode(distinct)
        mean = vectors.sum(axis=0)
        norm = float(np.linalg.norm(mean))
        if not math.isfinite(norm) or norm < 1e-6:  # phrasings that cancel out: keep the title's
            return vectors[0].tobytes()
        return (mean / norm).astype(np.float32).tobytes()

    @staticmethod
    def from_bytes(vector: bytes | None) -> np.ndarray | None:
        """A stored vector as a unit float32 array, or None when it is missing or unusable."""
        if not vector or len(vector) != EMBEDDING_DIM * 4:
            return None
        v = np.frombuffer(vector, dtype=np.float32)
        norm = float(np.linalg.norm(v))
        if not math.isfinite(norm) or norm == 0.0:
            return None
        return (v / norm).astype(np.float32)

    # -- index -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._where

    def scopes(self) -> list[tuple[int, int]]:
        """Every scope holding at least one request."""
        with self._lock:
            return list(self._vectors if self.backend == "embedding" else self._string)

    def add(self, *, request_id: int, scope: tuple[int, int], text: str, vector: bytes | None = None) -> None:
        """Index (or re-index) one request. ``vector`` is a stored embedding to reuse if it fits."""
        self.add_many([(request_id, scope, text, vector)])

    def add_many(self, items: Iterable[tuple[int, tuple[int, int], str, bytes | None]]) -> None:
        """Index many ``(request_id, scope, text, vector)`` at once (embeds missing vectors in batches)."""
        items = list(items)
        if not items:
            return
        with self._lock:
            vectors: list[np.ndarray | None] = [None] * len(items)
            normalized: list[str] = [""] * len(items)
            if self.backend == "embedding":
                vectors = [self.from_bytes(v) for _, _, _, v in items]
                todo = [i for i, v in enumerate(vectors) if v is None]
                for start in range(0, len(todo), 512):
                    chunk = todo[start : start + 512]
                    encoded = self._encode(
                        [normalize(items[i][2] or "") or (items[i][2] or "") for i in chunk]
                    )
                    for i, v in zip(chunk, encoded, strict=True):
                        vectors[i] = v
            else:
                normalized = [normalize(text or "") for _, _, text, _ in items]
            for (request_id, scope, _text, _), norm, vec in zip(items, normalized, vectors, strict=True):
                request_id = int(request_id)
                scope = (int(scope[0]), int(scope[1]))
                self._remove(request_id)
                if self.backend == "embedding":
                    vscope = self._vectors.get(scope)
                    if vscope is None:
                        vscope = self._vectors[scope] = VectorScope(EMBEDDING_DIM)
                    slot = vscope.add(request_id, vec)
                else:
                    sscope = self._string.get(scope)
                    if sscope is None:
                        sscope = self._string[scope] = StringScope()
                    slot = sscope.add(request_id, norm)
                self._where[request_id] = (scope, slot)
                self.max_id = max(self.max_id, request_id)

    def remove(self, request_id: int) -> None:
        """Forget a request (merged, deleted); unknown ids are ignored."""
        with self._lock:
            self._remove(int(request_id))

    def _remove(self, request_id: int) -> None:
        found = self._where.pop(request_id, None)
        if found is None:
            return
        scope, slot = found
        index = self._vectors.get(scope) if self.backend == "embedding" else self._string.get(scope)
        if index is not None:
            index.remove(slot)
            if index.live == 0:
                self._vectors.pop(scope, None)
                self._string.pop(scope, None)
            elif len(index.ids) > 4096 and index.live < len(index.ids) // 2:
                self._compact(scope)

    def _compact(self, scope: tuple[int, int]) -> None:
        """Rebuild a scope whose slots are mostly removed ones."""
        if self.backend == "embedding":
            old = self._vectors.pop(scope)
            new = self._vectors[scope] = VectorScope(EMBEDDING_DIM)
            for slot, request_id in enumerate(old.ids):
                if old.alive[slot]:
                    self._where[request_id] = (scope, new.add(request_id, old.matrix[slot]))
        else:
            old_s = self._string.pop(scope)
            new_s = self._string[scope] = StringScope()
            for slot, request_id in enumerate(old_s.ids):
                if old_s.alive[slot]:
                    self._where[request_id] = (scope, new_s.add(request_id, old_s.sources[slot]))

    # -- look-up -----------------------------------------------------------------------------------

    def suggest(self, *, scope: tuple[int, int], text: str, limit: int = 3) -> list[tuple[int, float]]:
        """Up to ``limit`` (request_id, score) of the same scope, best first, that pass the cut-off."""
        return self.suggest_many(scopes=[scope], text=text, limit=limit)

    def suggest_many(
        self,
        *,
        scopes: Sequence[tuple[int, int]],
        text: str,
        limit: int = 3,
        bonus: dict[tuple[int, int], float] | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``limit`` (request_id, score) across ``scopes`` (each scope's score raised by its
        ``bonus``), best first. The text is encoded once; the cut-off (matching.calibration) is
        applied to the pooled candidates, so a query close to many requests but to none in
        particular gets nothing."""
        if limit <= 0:
            return []
        normalized = normalize(text or "")
        if not normalized:
            return []
        bonus = bonus or {}
        found: list[tuple[int, float]] = []
        with self._lock:
            if self.backend == "embedding":
                live = [s for s in ((int(a), int(b)) for a, b in scopes) if s in self._vectors]
                if not live:
                    return []
                query = self._encode([normalized])[0]
                pooled: list[tuple[int, float, float]] = []
                for scope in live:
                    pooled += self._nearest_embedding(scope, query, limit + 2, bonus.get(scope, 0.0))
                pooled.sort(key=lambda hit: -hit[2])
                return calibration.keep(pooled, limit, self.step_min)
            for a, b in scopes:
                scope = (int(a), int(b))
                hits = self._suggest_string(scope, normalized, limit + 2)
                found += [(rid, score + bonus.get(scope, 0.0)) for rid, score in hits]
        found.sort(key=lambda hit: -hit[1])
        return found[:limit]

    def _suggest_string(self, scope: tuple[int, int], normalized: str, limit: int) -> list[tuple[int, float]]:
        index = self._string.get(scope)
        if index is None or index.live == 0:
            return []
        words = terms(normalized)
        qtext = " ".join(words)
        qweights = feature_weights(features(words))
        scored = []
        for slot in index.candidates(qweights, max(STRING_CANDIDATES, limit)):
            slot = int(slot)
            score = string_score(index.cosine(qweights, slot), qtext, index.texts[slot])
            if score >= STRING_MIN_SCORE:
                scored.append((index.ids[slot], round(min(1.0, score), 4)))
        scored.sort(key=lambda item: -item[1])
        return scored[:limit]

    def _nearest_embedding(
        self, scope: tuple[int, int], query: np.ndarray, count: int, bonus: float
    ) -> list[tuple[int, float, float]]:
        """The ``count`` nearest live rows as (request_id, cosine, cosine + bonus)."""
        index = self._vectors[scope]
        n = len(index.ids)
        # numpy's BLAS does the 100k x 384 product in about 4 ms here (torch.mv took about 11 ms).
        sims = index.matrix[:n] @ query
        sims[~index.alive[:n]] = -2.0
        pool = min(n, count)
        top = np.argpartition(-sims, pool - 1)[:pool] if pool < n else np.arange(n)
        hits = []
        for slot in top:
            if index.alive[slot]:
                cos = round(min(1.0, max(0.0, float(sims[slot]))), 4)
                hits.append((index.ids[int(slot)], cos, cos + bonus))
        return hits
