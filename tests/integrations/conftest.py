"""Fixtures for the integrations: a fake of each tracker's HTTP API on loopback, and an encryption key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from tests.integrations.fake_trackers import FakeTrackers

SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def trackers() -> Iterator[FakeTrackers]:
    fake = FakeTrackers().start()
    yield fake
    fake.stop()


@pytest.fixture
def secret_key(monkeypatch) -> str:
    monkeypatch.setenv("PARTNERBOT_SECRET_KEY", SECRET_KEY)
    return SECRET_KEY
