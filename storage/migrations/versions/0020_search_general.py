"""Search: the general requests of a broad word, shortest title first, without ranking every match

Revision ID: 0020_search_general
Revises: 0019_crm
Create Date: 2026-12-03 19:00:00

storage/search.py ranks only the newest matches of a word; when a word has more matches than that, it
also walks the matches whose title has the word, shortest title first (a general request is short), so an
old "Audit log" stays reachable by "audit" among thousands of newer requests. The walk has to come from an
index in that order, not a sort of every match:

* SQLite: `request_search_general`, an FTS5 table of titles whose rowid is length(title) * 2^32 + id,
  so its natural (rowid) order is shortest title first, then oldest; kept in step by triggers on
  `feature_request`. detail=none: it is only ever walked in order, never ranked.
* PostgreSQL: an index on feature_request (workspace_id, length(title), id), walked with the request's
  title lexemes (weight A of request_search) as the filter; for a rare word the planner takes the GIN
  index instead and sorts the few matches.
"""

from alembic import op

revision = "0020_search_general"
down_revision = "0019_crm"
branch_labels = None
depends_on = None

KEY = "length({row}.title) * 4294967296 + {row}.id"

SQLITE_UP = [
    "CREATE VIRTUAL TABLE request_search_general USING fts5(title, "
    "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4', detail = none)",
    f"""CREATE TRIGGER request_search_general_insert AFTER INSERT ON feature_request BEGIN
        INSERT INTO request_search_general(rowid, title) VALUES ({KEY.format(row="NEW")}, NEW.title);
    END""",
    f"""CREATE TRIGGER request_search_general_title AFTER UPDATE OF title ON feature_request BEGIN
        DELETE FROM request_search_general WHERE rowid = {KEY.format(row="OLD")};
        INSERT INTO request_search_general(rowid, title) VALUES ({KEY.format(row="NEW")}, NEW.title);
    END""",
    f"""CREATE TRIGGER request_search_general_delete AFTER DELETE ON feature_request BEGIN
        DELETE FROM request_search_general WHERE rowid = {KEY.format(row="OLD")};
    END""",
    f"INSERT INTO request_search_general(rowid, title) SELECT {KEY.format(row='r')}, r.title "
    "FROM feature_request r",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS request_search_general_delete",
    "DROP TRIGGER IF EXISTS request_search_general_title",
    "DROP TRIGGER IF EXISTS request_search_general_insert",
    "DROP TABLE IF EXISTS request_search_general",
]

PG_UP = ["CREATE INDEX ix_feature_request_general ON feature_request (workspace_id, length(title), id)"]
PG_DOWN = ["DROP INDEX IF EXISTS ix_feature_request_general"]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP)


def downgrade() -> None:
    _run(PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN)
