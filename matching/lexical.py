"""Lexical evidence for the hybrid ranking: IDF-weighted word overlap, vectorised over a whole scope.

The embedding alone misses requests that share a rare word with the query (RBAC, SCIM, WCAG, Okta: the
small model spreads them thin) and cannot tell a general request from its finer-grained versions
("SSO with Okta" / "SSO with Okta for new hires"). Word overlap weighted by BM25's IDF covers both:

* ``coverage``: for every row of a scope at once, the IDF-weighted share of the query's words the
  row's title contains (BM25 with binary term frequency, scaled to 0..1 by the query's own weight). One
  ``numpy.bincount`` over the posting lists of the query's words; no loop over rows.
* ``doc_coverage``: for a handful of candidates, the IDF-weighted share of the *row's* words the query
  contains. A finer-grained variant carries words the query never said ("for new hires"), so the
  general request covers more of itself.

Slots are the ones of the embedding scope they sit beside (matching.index.VectorScope). A batch BM25
library (bm25s, scikit-learn's TfidfVectorizer) builds its matrix once; requests arrive one at a time
here, so the postings are plain growable int32 arrays and IDF is computed from live document
frequencies at look-up.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from matching.normalize import terms


def words_of(normalized: str) -> list[str]:
    """The distinct content words (stop words dropped, lightly stemmed) of a normalised text."""
    return list(dict.fromkeys(terms(normalized))) if normalized else []


class LexicalScope:
    def __init__(self) -> None:
        self.postings: dict[str, array] = {}
        self.df: dict[str, int] = {}
        self.words: list[tuple[str, ...]] = []  # per slot
        self.lengths = np.zeros(0, dtype=np.int32)  # distinct words per slot (0 once removed)
        self.live = 0
        # IDF per word, kept between look-ups and forgotten whenever a row comes or goes.
        self._idf: dict[str, float] = {}

    def add(self, slot: int, words: list[str]) -> None:
        while len(self.words) <= slot:
            self.words.append(())
        self.words[slot] = tuple(words)
        if slot >= len(self.lengths):
            grown = np.zeros(max(1024, 2 * len(self.lengths), slot + 1), dtype=np.int32)
            grown[: len(self.lengths)] = self.lengths
            self.lengths = grown
        self.lengths[slot] = len(words)
        for w in words:
            p = self.postings.get(w)
            if p is None:
                p = self.postings[w] = array("i")
            p.append(slot)
            self.df[w] = self.df.get(w, 0) + 1
        self.live += 1
        if self._idf:
            self._idf.clear()

    def remove(self, slot: int) -> None:
        if slot >= len(self.words):
            return
        for w in self.words[slot]:
            left = self.df.get(w, 0) - 1
            if left > 0:
                self.df[w] = left
            else:
                self.df.pop(w, None)
        self.words[slot] = ()
        self.lengths[slot] = 0
        self.live -= 1
        if self._idf:
            self._idf.clear()

    def idf(self, word: str) -> float:
        """BM25's IDF (never negative); a word no live row contains weighs the most."""
        got = self._idf.get(word)
        if got is None:
            df = self.df.get(word, 0)
            got = self._idf[word] = math.log(1.0 + (self.live - df + 0.5) / (df + 0.5))
        return got

    def coverage(self, words: list[str], n: int, alive: np.ndarray | None = None) -> np.ndarray:
        """Per slot 0..n-1: the IDF-weighted share of ``words`` the slot's title contains (0..1);
        removed slots count 0 when ``alive`` is given."""
        got = self.coverage_or_none(words, n, alive)
        return np.zeros(n, dtype=np.float32) if got is None else got

    def coverage_or_none(
        self, words: list[str], n: int, alive: np.ndarray | None = None
    ) -> np.ndarray | None:
        """``coverage``, or None when no live row holds any of the words (every row would count 0)."""
        if not words or self.live == 0:
            return None
        total = sum(self.idf(w) for w in words)
        present = [w for w in words if self.df.get(w, 0) > 0]
        if not present or total <= 0:
            return None
        arrays = [np.frombuffer(self.postings[w], dtype=np.int32) for w in present]
        weights = np.repeat(
            np.asarray([self.idf(w) / total for w in present], dtype=np.float64),
            [len(a) for a in arrays],
        )
        slots = np.concatenate(arrays)
        keep = slots < n
        if keep.all():
            scores = np.bincount(slots, weights=weights, minlength=n)
        else:
            scores = np.bincount(slots[keep], weights=weights[keep], minlength=n)
        if alive is not None:
            scores[~alive[:n]] = 0.0
        return scores.astype(np.float32)

    def subsets(self, words: frozenset[str], n: int, alive: np.ndarray) -> np.ndarray:
        """Live slots whose words are a proper, non-empty subset of ``words`` (general versions)."""
        if len(words) < 2:
            return np.zeros(0, dtype=np.int64)
        arrays = [np.frombuffer(self.postings[w], dtype=np.int32) for w in words if w in self.postings]
        if not arrays:
            return np.zeros(0, dtype=np.int64)
        slots = np.concatenate(arrays)
        slots = slots[slots < n]
        counts = np.bincount(slots, minlength=n)[:n]
        lengths = self.lengths[:n]
        hit = np.flatnonzero((counts > 0) & (counts == lengths) & (lengths < len(words)) & alive[:n])
        return hit

    def doc_coverage(self, query_words: set[str], slot: int) -> float:
        """The IDF-weighted share of the slot's own words that the query contains (0..1)."""
        words = self.words[slot] if slot < len(self.words) else ()
        if not words or query_words.isdisjoint(words):
            return 0.0
        weights = [self.idf(w) for w in words]
        total = sum(weights)
        if total <= 0:
            return 0.0
        return sum(wt for w, wt in zip(words, weights, strict=True) if w in query_words) / total
