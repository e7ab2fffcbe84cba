"""Full-text search over requests: their title and every phrasing confirmed as the same thing (the text of
their occurrences, which a "Same as" answer or a PM's merge moves onto the request).

The index is the `request_search` table that migration 0016 creates: an FTS5 virtual table on SQLite, a
table of one tsvector per request with a GIN index on PostgreSQL, each kept in step by triggers on `feature_request` and
`occurrence`, so every code path that creates, renames, merges, splits or erases is covered. It is the
database's own index rather than a model (SQLite's virtual table and its shadow tables have no SQLAlchemy
form), so the models-versus-migrations check leaves it out: `is_search_table`.

What a person types is never handed to either query language as it is: it is cut into words (letters and
digits), each word is quoted and matched as a prefix ("okt" finds "Okta"), all words must match; when no
request has them all, any of them will do (ranked by how well they match). So quotes, `*`, `AND`, `NEAR(`,
`-`, `:` or `<!channel>` are only ever words or nothing, never syntax.

A word with more matches than are ranked (RANKED) also brings the matches whose title has it, shortest
title first: the general requests, however old (migration 0020's index in that order); on SQLite so do
several words, on PostgreSQL only one word or the any-word fallback (see search_requests). A whole word
that is the trade's shorthand (matching.glossary) also finds the words it stands for: "sso" finds "Single
sign-on for contractors".

Both fold case; SQLite also folds accents ("munchen" finds "München"), PostgreSQL's 'simple' configuration
does not (the `unaccent` extension would need installing on the server), so there "münchen" is needed.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import text as sql
from sqlmodel import Session

from matching.glossary import GLOSSARY

SEARCH_TABLE = "request_search"
# What a person can search for: every request not merged away and not shipped.
SEARCHABLE = ("open", "planned", "not_yet")
MAX_WORDS = 12  # typing a paragraph is searched by its first words
MAX_WORD = 48  # characters of one word
_WORD = re.compile(r"[^\W_]+")


def is_search_table(name: str | None) -> bool:
    """The search index's tables (FTS5 adds request_search_data, _idx, _content, _docsize, _config)."""
    return bool(name) and (name == SEARCH_TABLE or name.startswith(SEARCH_TABLE + "_"))


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's hook (migrations/env.py, and the models-versus-migrations test): the search index is the
    database's own, not a model, so autogenerate neither compares nor drops it."""
    if type_ == "index" and name == GENERAL_INDEX:  # an index on an expression, PostgreSQL only
        return False
    return not (type_ == "table" and is_search_table(name))


def words(text: str) -> list[str]:
    """The words of what was typed, lower-cased, at most MAX_WORDS, each at most MAX_WORD characters;
    repeats dropped."""
    text = unicodedata.normalize("NFC", str(text or "")[:2000]).casefold()
    found = dict.fromkeys(w[:MAX_WORD] for w in _WORD.findall(text))
    return list(found)[:MAX_WORDS]


def spelt_out(word: str) -> list[str]:
    """The words a typed shorthand stands for (matching.glossary: "rbac" -> role, based, access, control,
    permissions), so "sso" also finds "Single sign-on for contractors"; [] for any other word. Glossary
    words are plain lower-case letters and digits, safe in either query syntax."""
    found = GLOSSARY.get(word) if " " not in word else None
    return [w for w in found.split() if _WORD.fullmatch(w)] if found else []


def _sqlite_query(terms: list[str], joiner: str, title: bool = False) -> str:
    # (request_search_general holds titles only: `title` changes nothing here)
    # A one-letter word is matched whole: "a*" would walk most of the index for nothing.
    parts = []
    for w in terms:
        part = f'"{w}"*' if len(w) > 1 else f'"{w}"'
        spelt = spelt_out(w)
        every = " AND ".join(f'"{x}"' for x in spelt)
        parts.append(f"({part} OR ({every}))" if spelt else part)
    return f" {joiner} ".join(parts)


def _pg_query(terms: list[str], joiner: str, title: bool = False) -> str:
    # title: only the title's lexemes, request_search's weight A
    weight = "A" if title else ""
    parts = []
    for w in terms:
        part = f"'{w}':*{weight}" if len(w) > 1 else (f"'{w}':{weight}" if title else f"'{w}'")
        spelt = spelt_out(w)
        exact = [f"'{x}':{weight}" if title else f"'{x}'" for x in spelt]
        parts.append(f"({part} | ({' & '.join(exact)}))" if spelt else part)
    return f" {joiner} ".join(parts)


# Ranking reads every matching row's text, so a broad query ("ex", "report" among 100,000 requests) would
# cost in proportion to the whole store. Only the newest RANKED matches of the workspace (in the statuses
# asked for) are ranked: every match when there are fewer, which is what a few typed words leave.
RANKED = 500
# When there are more, an old general request ("Audit log", found by "audit" among thousands of newer
# requests) would never be reached, so the answer interleaves the ranked newest with the matches whose
# title has the words, shortest title first (a general request is short), then oldest first. Migration
# 0020 keeps an index in that order, so this walk also stops after `limit` rows.
GENERAL_INDEX = "ix_feature_request_general"  # PostgreSQL's; SQLite's is the request_search_general table

_SQLITE = """
SELECT id, count(*) OVER () AS hits FROM (
    SELECT r.id AS id, bm25(request_search, 4.0, 1.0) AS score
    FROM request_search JOIN feature_request r ON r.id = request_search.rowid
    WHERE request_search MATCH :query AND r.workspace_id = :workspace_id AND r.status IN ({statuses})
    ORDER BY request_search.rowid DESC
    LIMIT :ranked
) ORDER BY score, id DESC
LIMIT :limit
"""
_SQLITE_GENERAL = """
SELECT r.id
FROM request_search_general g JOIN feature_request r ON r.id = g.rowid % 4294967296
WHERE request_search_general MATCH :query AND r.workspace_id = :workspace_id AND r.status IN ({statuses})
ORDER BY g.rowid
LIMIT :limit
"""
# ts_rank's 1: divided by 1 + the log of the document's length, so a short title ranks above a long one
# with the same words (as bm25 does on SQLite; unnormalised, "dark mode" tied with every longer title
# holding "dark" and the oldest of them came last).
_PG = """
SELECT id, count(*) OVER () AS hits FROM (
    SELECT r.id AS id, s.document AS document
    FROM request_search s JOIN feature_request r ON r.id = s.request_id
    WHERE s.document @@ to_tsquery('simple', :query)
      AND r.workspace_id = :workspace_id AND r.status IN ({statuses})
    ORDER BY s.request_id DESC
    LIMIT :ranked
) hits
ORDER BY ts_rank(document, to_tsquery('simple', :query), 1) DESC, id DESC
LIMIT :limit
"""
# The title's lexemes are request_search's weight A ('word':*A). One word (or any of several) is common
# in titles: walking the workspace's titles shortest first (migration 0020's index) meets `limit` of them
# soon; for a rare word the planner takes the GIN index and sorts the few.
_PG_GENERAL = """
SELECT r.id
FROM feature_request r JOIN request_search s ON s.request_id = r.id
WHERE s.document @@ to_tsquery('simple', :query)
  AND r.workspace_id = :workspace_id AND r.status IN ({statuses})
ORDER BY length(r.title), r.id
LIMIT :limit
"""


def _interleave(ranked: list[int], general: list[int], limit: int) -> list[int]:
    """The ranked newest and the general ones taken in turn, each once."""
    out: dict[int, None] = {}
    for pair in zip(ranked, general, strict=False):
        out.update(dict.fromkeys(pair))
    longer = ranked if len(ranked) > len(general) else general
    out.update(dict.fromkeys(longer[min(len(ranked), len(general)) :]))
    return list(out)[:limit]


def search_requests(
    session: Session,
    *,
    workspace_id: int,
    text: str,
    limit: int = 50,
    statuses: tuple[str, ...] = SEARCHABLE,
) -> list[int]:
    """Ids of the workspace's requests (in `statuses`) whose title or confirmed phrasings have the words of
    `text` (the last ones may be partly typed), best match first. Empty text finds nothing."""
    terms = words(text)
    limit = max(0, min(int(limit), 500))
    if not terms or not statuses or limit == 0:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    names = {f"s{i}": status for i, status in enumerate(statuses)}
    marks = ", ".join(f":{k}" for k in names)
    statement = sql((_PG if postgres else _SQLITE).format(statuses=marks))
    ranked = max(RANKED, limit)
    params = {"workspace_id": workspace_id, "limit": limit, "ranked": ranked, **names}
    if postgres:
        # The plan depends on how common the words are: a plan cached for one word (the driver prepares a
        # statement it has run a few times) walked every match of another. Until the transaction ends.
        session.execute(sql("SET LOCAL plan_cache_mode = force_custom_plan"))
    build = _pg_query if postgres else _sqlite_query
    every, some = ("&", "|") if postgres else ("AND", "OR")
    for joiner in (every, some) if len(terms) > 1 else (every,):  # any word when no request has them all
        rows = session.execute(statement, {**params, "query": build(terms, joiner)}).all()
        if not rows:
            continue
        ids = [row[0] for row in rows]
        if rows[0][1] < ranked:  # every match was ranked
            return ids
        if postgres and joiner == every and len(terms) > 1:
            # Not on PostgreSQL for several words all typed: the general walk (they are rare together, the
            # planner guesses them common and walked 10,000 titles for "the pilot globex") or ranking every
            # match doubled the p95 of bench_search.py's two- and three-word look-ups at 100k.
            return ids
        titled = build(terms, joiner, title=True)
        general = sql((_PG_GENERAL if postgres else _SQLITE_GENERAL).format(statuses=marks))
        return _interleave(
            ids, [row[0] for row in session.execute(general, {**params, "query": titled})], limit
        )
    return []
