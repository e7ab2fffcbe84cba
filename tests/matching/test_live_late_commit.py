"""A request whose transaction took its id before another's but committed after it (PostgreSQL hands out
ids from a sequence, outside the transaction) is still indexed by a process that read past its id."""

from __future__ import annotations

from sqlmodel import Session

from matching.live import MatchIndex
from storage import people
from storage import requests as store


def test_a_request_committed_after_a_higher_id_is_still_suggested(pg_engine):
    with Session(pg_engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1LATE")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Core")
        s.commit()
        ws_id, area_id = ws.id, area.id
    reader = MatchIndex(prefer_embeddings=False)  # another web worker
    slow, fast = Session(pg_engine), Session(pg_engine)
    try:
        late = store.create_request(
            session=slow, workspace_id=ws_id, area_id=area_id, title="Bulk edit of tags"
        )
        slow.flush()  # has its id, not committed yet
        early = store.create_request(
            session=fast, workspace_id=ws_id, area_id=area_id, title="Dark mode for the web app"
        )
        fast.commit()
        assert early.id > late.id
        with Session(pg_engine) as s:
            reader.refresh(s)  # sees the higher id only
            assert [
                h.request.title
                for h in reader.suggest(s, workspace_id=ws_id, area_id=area_id, text="bulk edit of tags")
            ] == []
        slow.commit()
    finally:
        slow.close()
        fast.close()
    with Session(pg_engine) as s:
        found = reader.suggest(s, workspace_id=ws_id, area_id=area_id, text="bulk edit of tags")
        assert [h.request.title for h in found] == ["Bulk edit of tags"]
        # Checked again on every look-up, indexed once.
        assert len(reader.matcher) == 2
