"""SQLReplayCache: first use recorded, reuse detected until expiry, expired rows purged."""
from __future__ import annotations

from sqlalchemy import func, select

from cds_service.store.sql import SQLReplayCache, replays

ISS, OTHER_ISS = "https://ehr.example.org", "https://other.example.org"


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def replay_rows(store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(replays)).scalar_one()


def test_jti_seen_per_issuer_until_it_expires(store):
    clock = Clock(1_000.0)
    cache = SQLReplayCache(store.engine, clock=clock)
    assert cache.seen(ISS, "a", expires_at=1_300.0) is False
    assert cache.seen(ISS, "a", expires_at=1_300.0) is True
    assert cache.seen(OTHER_ISS, "a", expires_at=1_300.0) is False
    clock.now = 1_300.0
    assert cache.seen(ISS, "a", expires_at=1_600.0) is False  # the old entry expired: recorded afresh
    assert cache.seen(ISS, "a", expires_at=1_600.0) is True


def test_expired_entries_are_purged_at_most_once_a_minute(store):
    clock = Clock(1_000.0)
    cache = SQLReplayCache(store.engine, clock=clock)
    for jti in ("a", "b", "c"):
        cache.seen(ISS, jti, expires_at=1_010.0)
    clock.now = 1_020.0
    cache.seen(ISS, "d", expires_at=2_000.0)
    assert replay_rows(store) == 4  # last purge at 1000: the next is due at 1060
    clock.now = 1_060.0
    cache.seen(ISS, "e", expires_at=2_000.0)
    assert replay_rows(store) == 2
