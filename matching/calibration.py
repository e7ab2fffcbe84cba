"""How a look-up ranks candidates and when the "Same thing?" step is worth a requester's click.

The embedding backend ranks on a hybrid score (matching.index, matching.lexical)::

    score = cosine + LEXICAL_WEIGHT * coverage + DOC_WEIGHT * doc_coverage + prior (+ area bonus)

``coverage`` is the IDF-weighted share of the query's words found in a request's title (rare words
such as RBAC, SCIM, WCAG or Okta weigh most), ``doc_coverage`` the share of the request's own words
the query said (a general request beats its finer-grained variants when the query names no detail),
``prior`` favours open requests over shipped ones, and the area the requester picked gets
matching.live's bonus. When a general request is within ``GENERAL_MARGIN`` of the best, it is shown
among the candidates beside its variants.

Cut-offs on that score:

* ``STEP_MIN_SCORE`` and ``STEP_MIN_GAP``: the best candidate must reach the first and stand the second
  above the mean of the next ``GAP_OVER``, or the request is logged as new with no step; a best score of
  ``STEP_SURE_SCORE`` or more always gets the step (several unmerged duplicates of one need would
  otherwise hide each other).
* ``CANDIDATE_MIN_SCORE``: once the step is shown, the other candidates listed beside the best one.

The weights were chosen on half of the labelled groups of benchmark/data/paraphrases.json (the
even-numbered ones) hidden among 10,000 generated requests (benchmark/bench_scale.py) and are reported
on the other half. Since the glossary (matching.glossary) spells shorthand out, ``doc_coverage`` does
less for recall there (uncut recall@3 on the even groups: 0.533 at 0, 0.520 at 0.05 and 0.08, 0.493 at
0.15), but it is what puts a general request above its finer-grained versions when the query names no
detail (tests/matching/test_hybrid.py); ``DOC_WEIGHT`` is the smallest tried that still does: 0.05. ``STEP_MIN_SCORE`` is chosen by leave-one-group-out on the labelled set alone
(``benchmark/bench_matching.py --calibrate``: for each group, the highest cut-off whose recall@3 as
heard on the *other* groups stays within ``RECALL_GIVE`` of the lowest cut-off's): 0.30 for every group.
``STEP_MIN_GAP`` is chosen the same way among 10,000 stored requests (benchmark/bench_scale.py), on the
even-numbered groups: the largest gap whose recall@3 stays within ``RECALL_GIVE`` of no gap at all.
It spares about one brand-new request in eight the step there (0.98 -> 0.87 on the held-out groups)
and changes nothing on the labelled set alone. Bringing needless steps under a quarter at that scale
takes a gap of 0.12, which halves the repeats offered (0.43 -> 0.21 held out): recall is what the
cut-offs protect, so it is not used. ``bench_scale.py`` prints the whole table.
"""

from __future__ import annotations

LEXICAL_WEIGHT = 0.15
DOC_WEIGHT = 0.05
STEP_MIN_SCORE = 0.30
# ... and stand this far above the mean of the next GAP_OVER scores (missing ones count 0): among
# thousands of requests a brand-new need has many near-equal neighbours, a repeat stands out.
STEP_MIN_GAP = 0.03
GAP_OVER = 9
# A best score this high always gets the step, whatever its neighbours: several requests that all say the
# same thing (duplicates nobody merged yet) must not hide each other.
STEP_SURE_SCORE = 0.6
CANDIDATE_MIN_SCORE = 0.25
# How much recall@3 the cut-off may cost on the groups it is learnt from.
RECALL_GIVE = 0.03
# Rows per scope re-ranked with doc_coverage (the rest are ranked out by cosine + coverage).
POOL = 24
# Candidates the step shows (matching.live asks for a few more, in case some were merged meanwhile):
# the general request is placed among these.
SHOWN = 3
# A general request this close to the best score is shown beside its finer-grained variants.
GENERAL_MARGIN = 0.3
# Prior by status: open requests first, shipped ones last (a repeat of a shipped need is usually a
# question about it, still worth linking, so it is not hidden).
STATUS_PRIOR = {"open": 0.0, "planned": 0.0, "not_yet": -0.01, "shipped": -0.03}
# A request is not suggested to a phrasing at least this close to one confirmed "It's new" against it.
REFUSED_MIN_COSINE = 0.9


def keep(
    found: list[tuple[int, float, float]], limit: int, step_min: float | None = None
) -> list[tuple[int, float]]:
    """``found``: (request_id, cosine, ranking score) sorted best first by ranking score. Returns up to
    ``limit`` (request_id, ranking score) when the best score reaches the step cut-off, else []."""
    step = STEP_MIN_SCORE if step_min is None else step_min
    if not found or found[0][2] < step:
        return []
    if step_min is None and found[0][2] < STEP_SURE_SCORE and gap(found) < STEP_MIN_GAP:
        return []
    return [(rid, score) for rid, cos, score in found if score >= min(CANDIDATE_MIN_SCORE, step)][:limit]


def gap(found: list[tuple[int, float, float]]) -> float:
    """The best ranking score minus the mean of the next GAP_OVER (missing ones count 0)."""
    if not found:
        return 0.0
    nxt = [score for _, _, score in found[1 : GAP_OVER + 1]]
    return found[0][2] - sum(nxt) / GAP_OVER


# A scope this large is looked up in two passes (matching.index.Matcher._fit_basis): the rows projected
# on SHORTLIST_DIM directions first, then the SHORTLIST best of them scored exactly, and any other row the
# projection may have under-rated enough to matter (the result is the one-pass result).
SHORTLIST_MIN_ROWS = 4096
SHORTLIST_DIM = 128
SHORTLIST = 256
