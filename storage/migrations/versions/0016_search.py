"""request_search: full-text search over each request's title and the phrasings confirmed as it (the text of
its occurrences), kept in step by triggers: SQLite FTS5, PostgreSQL tsvector + GIN

Revision ID: 0016_search
Revises: 0015_oauth
Create Date: 2026-12-03 13:00:00

The table is not one of the models (storage/search.py says why): it is the database's own index, and the
triggers keep it true whatever code path creates, renames, merges, splits or erases a request or an
occurrence. Each request's phrasings count up to 2,000 characters each and 100,000 in all (a tsvector has
a 1 MB limit; one pasted novel must never make logging fail).
"""

from alembic import op

revision = "0016_search"
down_revision = "0015_oauth"
branch_labels = None
depends_on = None

# SQLite ----------------------------------------------------------------------------------------------
# rowid = feature_request.id. unicode61 folds case and (remove_diacritics 2) accents; the prefix indexes
# make "okt*" / "rb*" cheap.
SQLITE_PHRASINGS = (
    "coalesce((SELECT substr(group_concat(DISTINCT substr(o.text, 1, 2000)), 1, 100000) "
    "FROM occurrence o WHERE o.request_id = {rid}), '')"
)
SQLITE_UP = [
    "CREATE VIRTUAL TABLE request_search USING fts5(title, phrasings, "
    "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4')",
    """CREATE TRIGGER request_search_request_insert AFTER INSERT ON feature_request BEGIN
        INSERT INTO request_search(rowid, title, phrasings)
        VALUES (NEW.id, NEW.title, {phrasings});
    END""".format(phrasings=SQLITE_PHRASINGS.format(rid="NEW.id")),
    """CREATE TRIGGER request_search_request_title AFTER UPDATE OF title ON feature_request BEGIN
        UPDATE request_search SET title = NEW.title WHERE rowid = NEW.id;
    END""",
    """CREATE TRIGGER request_search_request_delete AFTER DELETE ON feature_request BEGIN
        DELETE FROM request_search WHERE rowid = OLD.id;
    END""",
    """CREATE TRIGGER request_search_occurrence_insert AFTER INSERT ON occurrence BEGIN
        UPDATE request_search SET phrasings = {phrasings} WHERE rowid = NEW.request_id;
    END""".format(phrasings=SQLITE_PHRASINGS.format(rid="NEW.request_id")),
    """CREATE TRIGGER request_search_occurrence_update AFTER UPDATE OF request_id, text ON occurrence BEGIN
        UPDATE request_search SET phrasings = {new} WHERE rowid = NEW.request_id;
        UPDATE request_search SET phrasings = {old}
        WHERE rowid = OLD.request_id AND OLD.request_id <> NEW.request_id;
    END""".format(
        new=SQLITE_PHRASINGS.format(rid="NEW.request_id"), old=SQLITE_PHRASINGS.format(rid="OLD.request_id")
    ),
    """CREATE TRIGGER request_search_occurrence_delete AFTER DELETE ON occurrence BEGIN
        UPDATE request_search SET phrasings = {old} WHERE rowid = OLD.request_id;
    END""".format(old=SQLITE_PHRASINGS.format(rid="OLD.request_id")),
    # Backfill: every request there is, with its phrasings.
    "INSERT INTO request_search(rowid, title, phrasings) SELECT r.id, r.title, "
    + SQLITE_PHRASINGS.format(rid="r.id")
    + " FROM feature_request r",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS request_search_occurrence_delete",
    "DROP TRIGGER IF EXISTS request_search_occurrence_update",
    "DROP TRIGGER IF EXISTS request_search_occurrence_insert",
    "DROP TRIGGER IF EXISTS request_search_request_delete",
    "DROP TRIGGER IF EXISTS request_search_request_title",
    "DROP TRIGGER IF EXISTS request_search_request_insert",
    "DROP TABLE IF EXISTS request_search",
]

# PostgreSQL ------------------------------------------------------------------------------------------
# The 'simple' configuration: no stemming and no stop words, like SQLite's side (a prefix query stands in
# for stemming). The title weighs A, the phrasings B.
PG_UP = [
    """CREATE TABLE request_search (
        request_id INTEGER PRIMARY KEY REFERENCES feature_request(id) ON DELETE CASCADE,
        document TSVECTOR NOT NULL
    )""",
    # fastupdate off: GIN's pending list is read row by row by every search until a vacuum merges it,
    # which made a look-up after a few thousand new requests several times slower; a bot writes a few rows
    # a minute, so paying the index update on each write is the better trade.
    "CREATE INDEX ix_request_search_document ON request_search USING GIN (document) WITH (fastupdate = off)",
    """CREATE FUNCTION request_search_document(rid INTEGER) RETURNS TSVECTOR
    LANGUAGE sql STABLE AS $$
        SELECT setweight(to_tsvector('simple', r.title), 'A')
            || setweight(to_tsvector('simple', coalesce((
                SELECT left(string_agg(DISTINCT left(o.text, 2000), ' '), 100000)
                FROM occurrence o WHERE o.request_id = r.id), '')), 'B')
        FROM feature_request r WHERE r.id = rid
    $$""",
    # Row-locks the request first (as an UPDATE of it would; an occurrence's foreign-key check is not
    # blocked), so two repeats logged at once each read the other's committed phrasing.
    """CREATE FUNCTION request_search_refresh(rid INTEGER) RETURNS VOID
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM feature_request WHERE id = rid FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        INSERT INTO request_search(request_id, document) VALUES (rid, request_search_document(rid))
        ON CONFLICT (request_id) DO UPDATE SET document = EXCLUDED.document;
    END $$""",
    """CREATE FUNCTION request_search_request_changed() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM request_search_refresh(NEW.id);
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION request_search_occurrence_changed() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM request_search_refresh(NEW.request_id);
        END IF;
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.request_id <> NEW.request_id) THEN
            PERFORM request_search_refresh(OLD.request_id);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER request_search_request_insert AFTER INSERT ON feature_request
        FOR EACH ROW EXECUTE FUNCTION request_search_request_changed()""",
    """CREATE TRIGGER request_search_request_title AFTER UPDATE OF title ON feature_request
        FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title)
        EXECUTE FUNCTION request_search_request_changed()""",
    """CREATE TRIGGER request_search_occurrence_insert AFTER INSERT OR DELETE ON occurrence
        FOR EACH ROW EXECUTE FUNCTION request_search_occurrence_changed()""",
    """CREATE TRIGGER request_search_occurrence_update AFTER UPDATE OF request_id, text ON occurrence
        FOR EACH ROW WHEN (OLD.request_id IS DISTINCT FROM NEW.request_id OR OLD.text IS DISTINCT FROM NEW.text)
        EXECUTE FUNCTION request_search_occurrence_changed()""",
    # Backfill in one statement, not row by row.
    """INSERT INTO request_search(request_id, document)
        SELECT r.id, setweight(to_tsvector('simple', r.title), 'A')
            || setweight(to_tsvector('simple', coalesce(p.phrasings, '')), 'B')
        FROM feature_request r
        LEFT JOIN (
            SELECT request_id, left(string_agg(DISTINCT left(text, 2000), ' '), 100000) AS phrasings
            FROM occurrence GROUP BY request_id
        ) p ON p.request_id = r.id""",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS request_search_occurrence_update ON occurrence",
    "DROP TRIGGER IF EXISTS request_search_occurrence_insert ON occurrence",
    "DROP TRIGGER IF EXISTS request_search_request_title ON feature_request",
    "DROP TRIGGER IF EXISTS request_search_request_insert ON feature_request",
    "DROP FUNCTION IF EXISTS request_search_occurrence_changed()",
    "DROP FUNCTION IF EXISTS request_search_request_changed()",
    "DROP FUNCTION IF EXISTS request_search_refresh(INTEGER)",
    "DROP FUNCTION IF EXISTS request_search_document(INTEGER)",
    "DROP TABLE IF EXISTS request_search",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP)


def downgrade() -> None:
    _run(PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN)
