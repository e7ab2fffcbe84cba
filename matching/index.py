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

from matching import adapter, calibration
from matching.encoder import EMBEDDING_DIM, VECTOR_TAG, load_encoder
from matching.fallback import STRING_CANDIDATES, STRING_MIN_SCORE, StringScope, string_score
from matching.lexical import LexicalScope, words_of
from matching.normalize import feature_weights, features, normalize, terms

log = logging.getLogger(__name__)

# A request is matched on the mean of the phrasings confirmed as the same thing (its title first, then
# how each repeat was typed); at most this many distinct phrasings, the title and the latest ones.
MAX_PHRASINGS = 32
# Texts whose vectors are kept, so the same words typed again cost no encoding.
CACHE_SIZE = 2048
# A removed row's prior: far below any live row's score.
DEAD = np.float32(-9.0)


class VectorScope:
    """One scope's vectors: a growable float32 matrix, the request id of each row, which are live, each
    row's prior (added to its score: open over shipped; a removed row's is DEAD, so no look-up masks
    them) and its title's words (matching.lexical). With a ``basis`` (the matcher's, see
    ``Matcher._fit_basis``) it also keeps every row projected on it, ``head``: the cheap first pass of a
    look-up in a large scope."""

    def __init__(self, dim: int, basis: np.ndarray | None = None) -> None:
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self.prior = np.zeros(0, dtype=np.float32)
        self.ids: list[int] = []
        self.live = 0
        self.lexical = LexicalScope()
        self.basis: np.ndarray | None = None
        self.head: np.ndarray | None = None
        self.rest = np.zeros(0, dtype=np.float32)  # per row: the length of its part outside the basis
        if basis is not None:
            self.set_basis(basis)

    def set_basis(self, basis: np.ndarray) -> None:
        self.basis = basis
        self.head = np.zeros((len(self.matrix), basis.shape[1]), dtype=np.float32)
        self.rest = np.zeros(len(self.matrix), dtype=np.float32)
        n = len(self.ids)
        if n:
            self.head[:n] = self.matrix[:n] @ basis
            self.rest[:n] = outside(self.matrix[:n], self.head[:n])

    def add(
        self, request_id: int, vector: np.ndarray, words: list[str] | None = None, prior: float = 0.0
    ) -> int:
        slot = len(self.ids)
        if slot >= len(self.matrix):
            cap = max(1024, 2 * len(self.matrix))
            grown = np.zeros((cap, self.matrix.shape[1]), dtype=np.float32)
            grown[:slot] = self.matrix[:slot]
            self.matrix = grown
            self.alive = np.concatenate([self.alive, np.zeros(cap - len(self.alive), dtype=bool)])
            self.prior = np.concatenate([self.prior, np.full(cap - len(self.prior), DEAD, dtype=np.float32)])
            if self.head is not None:
                head = np.zeros((cap, self.head.shape[1]), dtype=np.float32)
                head[:slot] = self.head[:slot]
                self.head = head
                self.rest = np.concatenate([self.rest, np.zeros(cap - len(self.rest), dtype=np.float32)])
        self.matrix[slot] = vector
        if self.head is not None:
            self.head[slot] = self.matrix[slot] @ self.basis
            self.rest[slot] = outside(self.matrix[slot : slot + 1], self.head[slot : slot + 1])[0]
        self.alive[slot] = True
        self.prior[slot] = prior
        self.ids.append(request_id)
        self.lexical.add(slot, words or [])
        self.live += 1
        return slot

    def remove(self, slot: int) -> None:
        if self.alive[slot]:
            self.alive[slot] = False
            self.matrix[slot] = 0.0
            self.prior[slot] = DEAD
            if self.head is not None:
                self.head[slot] = 0.0
                self.rest[slot] = 0.0
            self.lexical.remove(slot)
            self.live -= 1

    def exact(
        self, query: np.ndarray, coverage: np.ndarray | None, slots: np.ndarray | slice
    ) -> tuple[np.ndarray, np.ndarray]:
        """The cosine and the ranking score (cosine + lexical coverage + prior) of some rows."""
        sims = self.matrix[slots] @ query
        score = sims + calibration.LEXICAL_WEIGHT * coverage[slots] if coverage is not None else sims.copy()
        score += self.prior[slots]
        return sims, score


def outside(vectors: np.ndarray, projected: np.ndarray) -> np.ndarray:
    """Per row, the length of the vector's part outside the basis it was ``projected`` on (orthonormal
    columns): at most this times the query's own such part separates the exact cosine from the projected
    one (Cauchy-Schwarz)."""
    full = np.einsum("ij,ij->i", vectors, vectors)
    kept = np.einsum("ij,ij->i", projected, projected)
    return np.sqrt(np.maximum(full - kept, 0.0)).astype(np.float32)


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
        # Guards the cache only: texts are encoded outside every lock (the encoder is thread-safe), so one
        # thread's encoding never holds up another's look-up.
        self._cache_lock = threading.Lock()
        # Per workspace: vectors of phrasings confirmed as new against a request shown, and that request.
        self._refused: dict[int, tuple[np.ndarray, list[int]]] = {}
        # Per workspace: the adapter on query vectors learnt from its "Same as" answers (matching.adapter).
        self._adapters: dict[int, np.ndarray] = {}
        # The first-pass projection of large scopes (``_fit_basis``); None until a scope is that large.
        self._basis: np.ndarray | None = None
        self._basis_rows = 0  # live rows when it was fitted
        self.max_id = 0  # highest request id ever added
        # The embedding backend's step cut-off (None: matching.calibration's); the benchmark varies it.
        self.step_min: float | None = None

    # -- model -------------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """What FeatureRequest.embedding_model must equal for a stored vector to be reused."""
        return VECTOR_TAG if self.backend == "embedding" else ""

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 vectors of already-normalised texts (cached per text). Holds no lock while
        encoding."""
        known: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for t in dict.fromkeys(texts):
                v = self._cache.get(t)
                if v is not None:
                    known[t] = v
                    self._cache.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            vecs = load_encoder().encode(missing)
            with self._cache_lock:
                for t, v in zip(missing, vecs, strict=True):
                    known[t] = self._cache[t] = v
                    if len(self._cache) > CACHE_SIZE:
                        self._cache.popitem(last=False)
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = known[t]
        return out

    def prepare(self, text: str) -> None:
        """Encode a text about to be looked up, outside every lock: the look-up then finds its vector
        cached (matching.live encodes before queueing on the index)."""
        if self.backend == "embedding":
            normalized = normalize(text or "")
            if normalized:
                self._encode([normalized])

    def clear_cache(self) -> None:
        """Forget the cached vectors of texts seen lately (the benchmark times cold look-ups)."""
        with self._cache_lock:
            self._cache.clear()

    def vector(self, text: str) -> bytes | None:
        """The float32 bytes of the text's embedding to store with the request; None for strings."""
        if self.backend != "embedding":
            return None
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

    def add(
        self,
        *,
        request_id: int,
        scope: tuple[int, int],
        text: str,
        vector: bytes | None = None,
        status: str = "open",
    ) -> None:
        """Index (or re-index) one request. ``vector`` is a stored embedding to reuse if it fits."""
        self.add_many([(request_id, scope, text, vector, status)])

    def add_many(self, items: Iterable[tuple]) -> None:
        """Index many ``(request_id, scope, text, vector)`` or ``(..., status)`` at once (embeds missing
        vectors in batches). ``status`` sets the request's prior (matching.calibration.STATUS_PRIOR)."""
        items = [tuple(item) if len(item) == 5 else (*item, "open") for item in items]
        if not items:
            return
        with self._lock:
            vectors: list[np.ndarray | None] = [None] * len(items)
            normalized = [normalize(item[2] or "") for item in items]
            if self.backend == "embedding":
                vectors = [self.from_bytes(item[3]) for item in items]
                todo = [i for i, v in enumerate(vectors) if v is None]
                for start in range(0, len(todo), 512):
                    chunk = todo[start : start + 512]
                    encoded = self._encode([normalized[i] or (items[i][2] or "") for i in chunk])
                    for i, v in zip(chunk, encoded, strict=True):
                        vectors[i] = v
            for (request_id, scope, _text, _, status), norm, vec in zip(
                items, normalized, vectors, strict=True
            ):
                request_id = int(request_id)
                scope = (int(scope[0]), int(scope[1]))
                self._remove(request_id)
                if self.backend == "embedding":
                    vscope = self._vectors.get(scope)
                    if vscope is None:
                        vscope = self._vectors[scope] = VectorScope(EMBEDDING_DIM, self._basis)
                    prior = calibration.STATUS_PRIOR.get(status or "open", 0.0)
                    slot = vscope.add(request_id, vec, words_of(norm), prior)
                else:
                    sscope = self._string.get(scope)
                    if sscope is None:
                        sscope = self._string[scope] = StringScope()
                    slot = sscope.add(request_id, norm)
                self._where[request_id] = (scope, slot)
                self.max_id = max(self.max_id, request_id)
            if self.backend == "embedding" and (
                self._basis is None or len(self._where) >= 4 * self._basis_rows
            ):
                self._fit_basis()

    def _fit_basis(self) -> None:
        """Once a scope holds ``calibration.SHORTLIST_MIN_ROWS`` rows, the directions that carry most of
        the stored vectors (the top eigenvectors of their second-moment matrix, from an even sample of
        up to 4,096 rows) become the basis every scope projects its rows on; it is fitted again whenever
        the index has grown four times. A look-up in a large scope first scores the projected rows (a
        quarter of the memory to read), then scores exactly the ``calibration.SHORTLIST`` best of them."""
        big = [v for v in self._vectors.values() if v.live >= calibration.SHORTLIST_MIN_ROWS]
        if not big:
            return
        rows = np.vstack([v.matrix[: len(v.ids)][v.alive[: len(v.ids)]] for v in self._vectors.values()])
        sample = rows[np.linspace(0, len(rows) - 1, min(len(rows), 4096)).astype(np.int64)]
        _, vecs = np.linalg.eigh(sample.T.astype(np.float64) @ sample)
        basis = np.ascontiguousarray(vecs[:, ::-1][:, : calibration.SHORTLIST_DIM], dtype=np.float32)
        self._basis = basis
        self._basis_rows = len(rows)
        for v in self._vectors.values():
            v.set_basis(basis)

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
            new = self._vectors[scope] = VectorScope(EMBEDDING_DIM, self._basis)
            for slot, request_id in enumerate(old.ids):
                if old.alive[slot]:
                    words = list(old.lexical.words[slot])
                    moved = new.add(request_id, old.matrix[slot], words, float(old.prior[slot]))
                    self._where[request_id] = (scope, moved)
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
                workspaces = {scope[0] for scope in live}
                if len(workspaces) == 1 and next(iter(workspaces)) in self._adapters:
                    query = adapter.apply(query, self._adapters[next(iter(workspaces))])
                words = words_of(normalized)
                head = None
                if self._basis is not None:
                    projected = query @ self._basis
                    head = (projected, float(outside(query[None, :], projected[None, :])[0]))
                pooled: list[Hit] = []
                # id(VectorScope) -> this look-up's coverage and area bonus there, for _with_general
                scores: dict[int, tuple[np.ndarray | None, float]] = {}
                for scope in live:
                    hits, scores[id(self._vectors[scope])] = self._nearest_embedding(
                        scope, query, head, words, bonus.get(scope, 0.0)
                    )
                    pooled += hits
                pooled = self._drop_refused(live, query, pooled)
                shown = min(limit, calibration.SHOWN)
                ranked = rank(pooled, set(words), shown)
                ranked = self._with_general(ranked, scores, query, set(words), shown)
                ranked = self._drop_refused(live, query, ranked)
                return calibration.keep(
                    [(h.request_id, h.cosine, h.score) for h in ranked], limit, self.step_min
                )
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
        self,
        scope: tuple[int, int],
        query: np.ndarray,
        head: tuple[np.ndarray, float] | None,
        words: list[str],
        bonus: float,
    ) -> tuple[list[Hit], tuple[np.ndarray | None, float]]:
        """The ``calibration.POOL`` best live rows of a scope by cosine + lexical coverage + prior, and
        this look-up's coverage of the scope (None: no row has a query word) with the bonus, from which
        _with_general scores other rows.

        A scope of ``calibration.SHORTLIST_MIN_ROWS`` rows or more is read in two passes: the same score
        with the cosine taken on the projected rows (``VectorScope.head``; ``head`` is the query's
        projection and the length of its part outside the basis), then the exact score of its
        ``calibration.SHORTLIST`` best, and of every other row whose projected score is within
        ``rest x query's rest`` of the POOL-th best exact one (no row it left out can score higher).
        So the result is the one-pass result, and the memory read, which is what a 384-d product over
        100k rows waits on, drops to about a third."""
        index = self._vectors[scope]
        n = len(index.ids)
        coverage = index.lexical.coverage_or_none(words, n)
        pool = min(n, calibration.POOL)
        if head is not None and index.head is not None and n >= calibration.SHORTLIST_MIN_ROWS:
            projected, rest = head
            rough = index.head[:n] @ projected
            if coverage is not None:
                rough += calibration.LEXICAL_WEIGHT * coverage
            rough += index.prior[:n]
            k = min(n, max(pool, calibration.SHORTLIST))
            rows = np.argpartition(rough, n - k)[n - k :]
            sims, score = index.exact(query, coverage, rows)
            # The POOL-th best exact score: a row outside the shortlist that might reach it is scored too.
            floor = np.partition(score, len(score) - pool)[len(score) - pool]
            rough += index.rest[:n] * np.float32(rest) + np.float32(1e-4)
            rough[rows] = -np.inf
            more = np.flatnonzero(rough >= floor)
            if len(more):
                more_sims, more_score = index.exact(query, coverage, more)
                rows = np.concatenate([rows, more])
                sims = np.concatenate([sims, more_sims])
                score = np.concatenate([score, more_score])
        else:
            rows = None
            # numpy's BLAS does the 100k x 384 product in about 4 ms here (torch.mv took about 11 ms).
            sims, score = index.exact(query, coverage, slice(0, n))
        m = len(score)
        top = np.argpartition(score, m - pool)[m - pool :] if pool < m else np.arange(m)
        hits = []
        for i in top:
            slot = int(rows[i]) if rows is not None else int(i)
            if index.alive[slot]:
                cos = min(1.0, max(0.0, float(sims[i])))
                hits.append(Hit(index.ids[slot], cos, float(score[i]) + bonus, index, slot))
        return hits, (coverage, bonus)

    def _with_general(
        self,
        ranked: list[Hit],
        scores: dict[int, tuple[np.ndarray | None, float]],
        query: np.ndarray,
        words: set[str],
        limit: int,
    ) -> list[Hit]:
        """When the shown candidates are finer-grained versions of a request that is not shown ("SSO with
        Okta for new hires" above "SSO with Okta"), the most general of those requests takes the last
        place shown, if its score is within GENERAL_MARGIN of the best. Found by word sets: a row whose
        words are a proper subset of a shown candidate's (one bincount per candidate, no row loop)."""
        if not ranked:
            return ranked
        shown = ranked[:limit]
        ids = {h.request_id for h in shown}
        best = ranked[0].score
        found: Hit | None = None
        for h in shown:
            index = h.scope
            n = len(index.ids)
            slots = index.lexical.subsets(h.words, n, index.alive)
            if len(slots) == 0:
                continue
            coverage, bonus = scores[id(index)]
            score = index.exact(query, coverage, slots)[1] + bonus
            k = int(np.argmax(score))
            slot = int(slots[k])
            if index.ids[slot] in ids or float(score[k]) < best - calibration.GENERAL_MARGIN:
                continue
            if found is None or float(score[k]) > found.score:
                cos = min(1.0, max(0.0, float(index.matrix[slot] @ query)))
                found = Hit(index.ids[slot], cos, float(score[k]), index, slot)
        if found is None:
            return ranked
        found.score = round(
            found.score + calibration.DOC_WEIGHT * found.scope.lexical.doc_coverage(words, found.slot), 4
        )
        found.cosine = round(found.cosine, 4)
        rest = [h for h in ranked if h.request_id != found.request_id]
        at = min(limit - 1, len(rest))
        # Ranked on its own score among the shown ones, but never below the last place shown.
        while at > 0 and rest[at - 1].score < found.score:
            at -= 1
        return rest[:at] + [found] + rest[at:]

    # -- learnt from the workspace -------------------------------------------------------------------

    def refuse(self, *, workspace_id: int, request_id: int, text: str) -> None:
        """A phrasing the requester said is *not* the request they were shown ("It's new"): that
        request is not suggested again to a phrasing this close to it (calibration.REFUSED_MIN_COSINE)."""
        if self.backend != "embedding":
            return
        normalized = normalize(text or "")
        if not normalized:
            return
        with self._lock:
            vector = self._encode([normalized])[0]
            matrix, ids = self._refused.get(int(workspace_id), (np.zeros((0, EMBEDDING_DIM), np.float32), []))
            self._refused[int(workspace_id)] = (np.vstack([matrix, vector[None, :]]), [*ids, int(request_id)])

    def set_adapters(self, matrices: dict[int, bytes]) -> None:
        """The workspaces' adapters as stored (float32 d x d bytes); any other workspace uses none."""
        if self.backend != "embedding":
            return
        size = EMBEDDING_DIM * EMBEDDING_DIM * 4
        loaded = {
            int(ws): np.frombuffer(raw, dtype=np.float32).reshape(EMBEDDING_DIM, EMBEDDING_DIM)
            for ws, raw in matrices.items()
            if raw and len(raw) == size
        }
        with self._lock:
            self._adapters = loaded

    def _drop_refused(self, scopes: list[tuple[int, int]], query: np.ndarray, hits: list[Hit]) -> list[Hit]:
        refused: set[int] = set()
        for workspace_id in {scope[0] for scope in scopes}:
            matrix, ids = self._refused.get(workspace_id, (None, []))
            if matrix is None or not ids:
                continue
            close = np.flatnonzero(matrix @ query >= calibration.REFUSED_MIN_COSINE)
            refused.update(ids[int(i)] for i in close)
        return [h for h in hits if h.request_id not in refused] if refused else hits


class Hit:
    """One candidate of a look-up: its cosine, its ranking score, and where its row is."""

    __slots__ = ("request_id", "cosine", "score", "scope", "slot")

    def __init__(self, request_id: int, cosine: float, score: float, scope: VectorScope, slot: int) -> None:
        self.request_id = request_id
        self.cosine = cosine
        self.score = score
        self.scope = scope
        self.slot = slot

    @property
    def words(self) -> frozenset[str]:
        return frozenset(self.scope.lexical.words[self.slot])


def rank(hits: list[Hit], query_words: set[str], limit: int) -> list[Hit]:
    """The pooled candidates best first: their score plus how much of each candidate's own title the
    query covers (a finer-grained variant carries words the query never said). Then, when a general
    request (its words a subset of a shown candidate's) is close behind, it is shown too: the top
    ``limit`` always hold the general request beside its variants."""
    for h in hits:
        h.score += calibration.DOC_WEIGHT * h.scope.lexical.doc_coverage(query_words, h.slot)
    hits.sort(key=lambda h: -h.score)
    if len(hits) <= limit or not hits:
        return hits
    best = hits[0].score
    shown = hits[:limit]
    for i in range(limit, len(hits)):
        g = hits[i]
        if g.score < best - calibration.GENERAL_MARGIN:
            break
        gw = g.words
        if gw and any(gw < h.words for h in shown):
            hits.insert(limit - 1, hits.pop(i))  # in last place shown, the others move down one
            break
    for h in hits:
        h.score = round(h.score, 4)
        h.cosine = round(h.cosine, 4)
    return hits
