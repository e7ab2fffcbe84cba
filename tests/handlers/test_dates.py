"""Every date in a message is Slack's `<!date^…>` token (each reader sees their own zone and locale) with a
readable fallback (issue 12, item 7): digests, agendas, thank-yous, "not yet" notes, `/requests` listings."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from handlers.dates import slack_date, slack_day, slack_time
from handlers.text import from_slack
from tests.handlers.test_decisions import open_form, seeded, texts  # noqa: F401 (fixture)

TOKEN = re.compile(r"<!date\^(\d+)\^[^|>]+\|([^>]+)>")


def test_tokens_point_at_the_instant_and_fall_back_in_the_readers_zone():
    when = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)  # still Nov 29 in New York
    assert slack_date(when) == "<!date^1796009400^{date_short}|Nov 30, 2026>"
    assert slack_date(when, tz="America/New_York").endswith("|Nov 29, 2026>")
    assert slack_time(when, "America/New_York").endswith("^{date_short} at {time}|Sun Nov 29, 22:30 EST>")
    assert slack_date(when, tz="Not/AZone").endswith("|Nov 30, 2026>")
    day = slack_day(date(2026, 12, 8))
    assert day == "<!date^1796731200^{date_long_pretty}|Tue Dec 8>"
    assert datetime.fromtimestamp(1796731200, UTC) == datetime(2026, 12, 8, 12, tzinfo=UTC)


def test_listings_notes_and_thank_yous_carry_date_tokens(bolt, seeded):  # noqa: F811
    d, fake = bolt.driver, bolt.fake
    detail = json.dumps(d.command("UPM", "/requests", f"#{seeded['csv']}").json["blocks"])
    assert len(TOKEN.findall(detail)) == 3  # one per occurrence in "Who asked"
    view = open_form(bolt, "UPM", "req_not_yet", seeded["csv"])
    d.submit("UPM", view, {"reason": "Onboarding first"})
    note = next(t for t in texts(fake, "UBO") if "not yet" in t)
    assert TOKEN.search(note), note
    mine = json.dumps(d.command("UBO", "/requests", "mine").json["blocks"])
    assert len(TOKEN.findall(mine)) == 1  # when Bo raised it
    view = open_form(bolt, "UPM", "req_shipped", seeded["csv"])
    d.submit("UPM", view, {"link": "https://docs.example.com/csv"})
    thanks = next(t for t in texts(fake, "UBO") if "shipped" in t)
    assert TOKEN.search(thanks), thanks
    # Nothing shows a bare "%b %d" date outside a token any more: the fallback is the only plain date.
    for text in (detail, note, mine, thanks):
        assert not re.search(
            r"(?<!\|)\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d", TOKEN.sub("", text)
        )
        assert "<!date" not in from_slack(json.loads(json.dumps(text)))
