"""Moves this Python process's wall clock when PARTNERBOT_TEST_SHIFT_DAYS is set (e.g. 365), so the
whole suite, and every server process it starts, runs as if the date were that far ahead.

Loaded as `sitecustomize` by putting this folder on PYTHONPATH (`make test-future`); the monotonic clock
is left alone, so timeouts and sleeps behave as usual. Never on the path of a real deployment.
"""

import os

_days = os.environ.get("PARTNERBOT_TEST_SHIFT_DAYS", "").strip()
if _days:
    from datetime import UTC, datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=float(_days)), tick=True).start()
