"""When the "Same thing?" step is worth a requester's click: the embedding backend's cut-offs.

Two numbers, both plain cosines between the query and a request's vector:

* ``STEP_MIN_SCORE``: the best candidate must reach it, or the request is logged as new with no step.
  A new request always has *some* nearest neighbour; below this it is about as close as unrelated
  requests usually are, and the step would be a needless click.
* ``CANDIDATE_MIN_SCORE``: once the step is shown, the other candidates listed beside the best one.

On benchmark/data/paraphrases.json the best candidate's cosine separates repeats from new requests
better than a margin over the runner-up, a z-score over the scope, or a logistic blend of those (AUC
0.79 against 0.72-0.77), so the rule is a single cut-off. It is chosen by leave-one-group-out
(``benchmark/bench_matching.py --calibrate`` prints the table): for each group, the highest cut-off
whose recall@3 as heard on the *other* groups stays within ``RECALL_GIVE`` of the uncut recall;
0.30 is the median of those choices. A missed repeat splits a request's count and delays its alert,
so recall is what the cut-off protects; it removes about a third of the needless steps, not 3 in 4.
"""

from __future__ import annotations

STEP_MIN_SCORE = 0.30
CANDIDATE_MIN_SCORE = 0.22
# How much recall@3 (as heard) the cut-off may cost on the groups it is learnt from.
RECALL_GIVE = 0.03


def keep(
    found: list[tuple[int, float, float]], limit: int, step_min: float | None = None
) -> list[tuple[int, float]]:
    """``found``: (request_id, cosine, ranking score) sorted best first by ranking score. Returns up to
    ``limit`` (request_id, ranking score) when the best cosine reaches the step cut-off, else []."""
    step = STEP_MIN_SCORE if step_min is None else step_min
    if not found or max(cos for _, cos, _ in found) < step:
        return []
    return [(rid, score) for rid, cos, score in found if cos >= CANDIDATE_MIN_SCORE][:limit]
