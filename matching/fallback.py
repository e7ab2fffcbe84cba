"""The string fallback, used when the sentence-embedding model cannot load.

Character 3-gram + word TF-IDF over normalised titles, served from an inverted index per scope
(candidate generation with one ``numpy.bincount`` over the posting lists); the best candidates are
re-scored with exact TF-IDF cosine blended with rapidfuzz's ``token_set_ratio``.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter

import numpy as np
from rapidfuzz import fuzz

from matching.normalize import feature_weights, features, terms

# What suggest() considers plausible (combined score, 0..1).
STRING_MIN_SCORE = 0.20
# How many inverted-index candidates are re-scored exactly.
STRING_CANDIDATES = 64


class StringScope:
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
        words = terms(normalized)
        weights = feature_weights(features(words))
        slot = len(self.ids)
        self.ids.append(request_id)
        self.weights.append(weights)
        self.texts.append(" ".join(words))
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


def string_score(cosine: float, query_text: str, doc_text: str) -> float:
    ratio = fuzz.token_set_ratio(query_text, doc_text) / 100.0 if query_text and doc_text else 0.0
    return 0.65 * cosine + 0.35 * ratio
