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

Both fold case; SQLite also folds accents ("munchen" finds "München"), PostgreSQL's 'simple' configuration
does not (the `unaccent` extension would need installing on the server), so there "münchen" is needed.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import text as sql
from sqlmodel import Session

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
    return not (type_ == "table" and is_search_table(name))


def words(text: str) -> list[str]:
    """The words of what was typed, lower-cased, at most MAX_WORDS, each at most MAX_WORD characters;
    repeats dropped."""
    text = unicodedata.normalize("NFC", str(text or "")[:2000]).casefold()
    found = dict.fromkeys(w[:MAX_WORD] for w in _WORD.findall(text))
    return list(found)[:MAX_WORDS]


def _sqlite_query(terms: list[str], joiner: str) -> str:
    # A one-letter word is matched whole: "a*" would walk most of the index for nothing.
    parts = [f'"{w}"*' if len(w) > 1 else f'"{w}"' for w in terms]
    return f" {joiner} ".join(parts)


def _pg_query(terms: list[str], joiner: str) -> str:
    parts = [f"'{w}':*" if len(w) > 1 else f"'{w}'" for w in terms]
    return f" {joiner} ".join(parts)


# Ranking reads every matching row's text, so a broad query ("ex", "report" among 100,000 requests) would
# cost in proportion to the whole store. Only the newest RANKED matches of the workspace (in the statuses
# asked for) are ranked: every match when there are fewer, which is what a few typed words leave.
RANKED = 500

_SQLITE = """
SELECT id FROM (
    SELECT r.id AS id, bm25(request_search, 4.0, 1.0) AS score
    FROM request_search JOIN feature_request r ON r.id = request_search.rowid
    WHERE request_search MATCH :query AND r.workspace_id = :workspace_id AND r.status IN ({statuses})
    ORDER BY request_search.rowid DESC
    LIMIT :ranked
) ORDER BY score, id DESC
LIMIT :limit
"""
_PG = """
SELECT id FROM (
    SELECT r.id AS id, s.document AS document
    FROM request_search s JOIN feature_request r ON r.id = s.request_id
    WHERE s.document @@ to_tsquery('simple', :query)
      AND r.workspace_id = :workspace_id AND r.status IN ({statuses})
    ORDER BY s.request_id DESC
    LIMIT :ranked
) hits
ORDER BY ts_rank(document, to_tsquery('simple', :query)) DESC, id DESC
LIMIT :limit
"""


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
    build = _pg_query if postgres else _sqlite_query
    names = {f"s{i}": status for i, status in enumerate(statuses)}
    statement = sql((_PG if postgres else _SQLITE).format(statuses=", ".join(f":{k}" for k in names)))
    params = {"workspace_id": workspace_id, "limit": limit, "ranked": max(RANKED, limit), **names}
    every, some = ("&", "|") if postgres else ("AND", "OR")
    ids = [row[0] for row in session.execute(statement, {**params, "query": build(terms, every)})]
    if not ids and len(terms) > 1:
        ids = [row[0] for row in session.execute(statement, {**params, "query": build(terms, some)})]
    return ids
