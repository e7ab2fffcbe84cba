"""A workspace's own adapter on the query embeddings, learnt from its "Same as" answers, used only when it
proves better.

Every "Same as" at the step is a pair (the phrasing typed, the request picked). A workspace has its own
words for things ("the okta thing", "the board pack"); a linear map ``W`` applied to the query vector
(``normalize(q @ W)``) can move those phrasings towards the requests they meant. It is fitted in closed
form (ridge regression towards the identity)::

    W = argmin ||Q W - R||^2 + RIDGE * ||W - I||^2 = (Q'Q + RIDGE I)^-1 (Q'R + RIDGE I)

on the workspace's pairs except every fourth (by pair id), which is held back. It is switched in only
when, on the held-back pairs, it puts the picked request in the top 3 among the workspace's requests
more often than the base model does, AND it does not make the project's labelled set
(benchmark/data/paraphrases.json, recall@3 title only) any worse. Otherwise it is refused (and a
previously stored one is dropped). The clock fits it (bot/clock.py, at most hourly per workspace with
new pairs); every process reads it with the refused phrasings (matching.live).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Pairs ("Same as" answers) a workspace needs before an adapter is tried.
MIN_PAIRS = 20
# Pull towards the identity (in units of pairs): small workspaces barely move the model.
RIDGE = 8.0
LABELLED = Path(__file__).resolve().parents[1] / "benchmark" / "data" / "paraphrases.json"


def unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return (m / np.maximum(norms, 1e-9)).astype(np.float32)


def fit(queries: np.ndarray, targets: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """The d x d map taking query vectors towards their requests' vectors (ridge towards identity)."""
    d = queries.shape[1]
    eye = np.eye(d, dtype=np.float64)
    q = queries.astype(np.float64)
    a = q.T @ q + ridge * eye
    b = q.T @ targets.astype(np.float64) + ridge * eye
    return np.linalg.solve(a, b).astype(np.float32)


def apply(query: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return query if w is None else unit(query @ w)


def recall_at(
    queries: np.ndarray, wanted: list[int], candidates: np.ndarray, w: np.ndarray | None, k: int = 3
) -> float:
    """Share of queries whose wanted row of ``candidates`` is among the ``k`` most similar (one product)."""
    if len(wanted) == 0:
        return 0.0
    sims = apply(queries, w) @ candidates.T
    right = sims[np.arange(len(wanted)), wanted]
    better = (sims > right[:, None]).sum(axis=1)
    return float((better < k).mean())


def labelled_recall(encode: Callable[[list[str]], np.ndarray]) -> Callable[[np.ndarray | None], float]:
    """recall@3, title only, on the project's labelled set: f(W) (None = the base model)."""
    groups = json.loads(LABELLED.read_text())["groups"]
    titles = unit(encode([g["phrasings"][0] for g in groups]))
    texts, wanted = [], []
    for i, g in enumerate(groups):
        texts += g["phrasings"][1:]
        wanted += [i] * (len(g["phrasings"]) - 1)
    queries = unit(encode(texts))
    return lambda w: recall_at(queries, wanted, titles, w)


@dataclass
class Verdict:
    adapter: np.ndarray | None  # None: refused
    pairs: int
    held_base: float
    held_adapted: float
    labelled_base: float
    labelled_adapted: float
    reason: str


def decide(
    pair_ids: list[int],
    queries: np.ndarray,
    wanted: list[int],
    candidates: np.ndarray,
    labelled: Callable[[np.ndarray | None], float],
) -> Verdict:
    """Fit on the pairs whose id is not a multiple of 4, judge on the others, and on the labelled set.
    ``queries``: the phrasings' vectors; ``wanted[i]``: the row of ``candidates`` (the workspace's
    request vectors) that phrasing i was confirmed as."""
    held = np.asarray([pid % 4 == 0 for pid in pair_ids], dtype=bool)
    wanted_a = np.asarray(wanted, dtype=np.int64)
    train = ~held
    if len(pair_ids) < MIN_PAIRS or held.sum() == 0 or train.sum() == 0:
        return Verdict(None, len(pair_ids), 0, 0, 0, 0, f"fewer than {MIN_PAIRS} pairs")
    w = fit(queries[train], candidates[wanted_a[train]])
    held_base = recall_at(queries[held], list(wanted_a[held]), candidates, None)
    held_adapted = recall_at(queries[held], list(wanted_a[held]), candidates, w)
    lab_base, lab_adapted = labelled(None), labelled(w)
    if held_adapted <= held_base:
        reason = "no better on the held-back pairs"
    elif lab_adapted < lab_base:
        reason = "worse on the labelled set"
    else:
        reason = ""
    return Verdict(
        None if reason else w,
        len(pair_ids),
        held_base,
        held_adapted,
        lab_base,
        lab_adapted,
        reason or "better",
    )
