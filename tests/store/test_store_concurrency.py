"""Concurrent writers on both backends: feedback through the Flask app, and the JWT replay cache."""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from cds_service import create_app
from cds_service.store.sql import SQLReplayCache, SQLStore, feedback, parse_utc
from tests.store.records import FEEDBACK_PATH, accepted, audit, card_uuid, overridden

THREADS, POSTS = 8, 200
KNOWN = [card_uuid(100_000 + n) for n in range(50)]
START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def feedback_item(thread: int, post: int) -> dict:
    """Mostly distinct items; every 10th post is shared by all threads, every 10th repeats this thread's last one."""
    if post % 10 == 4:
        return accepted(card_uuid(900_000 + post), at="2026-03-02T08:00:00Z")
    if post % 10 == 9:
        return feedback_item(thread, post - 1)
    card = KNOWN[post % len(KNOWN)] if post % 3 == 0 else card_uuid(thread * 1000 + post)
    at = (START + timedelta(seconds=thread * 1000 + post)).isoformat()
    return accepted(card, at=at) if post % 2 else overridden(card, at=at, code="specialist-cleared")


def key(item: dict) -> tuple[str, str, datetime]:
    return item["card"], item["outcome"], parse_utc(item["outcomeTimestamp"])


def test_concurrent_feedback_through_the_app_is_stored_exactly_once(database_url):
    app = create_app({"auth": "off", "database_url": database_url})
    store = app.extensions["trd_cds"].store
    assert isinstance(store, SQLStore)
    store.record_audit(audit(*KNOWN))
    start = threading.Barrier(THREADS)

    def post_all(thread: int) -> Counter:
        client, totals = app.test_client(), Counter()
        start.wait()
        for post in range(POSTS):
            response = client.post(FEEDBACK_PATH, json={"feedback": [feedback_item(thread, post)]})
            assert response.status_code == 200, response.get_json()
            totals.update(response.get_json())
        return totals

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            totals = sum(pool.map(post_all, range(THREADS)), Counter())
        with store.engine.connect() as connection:
            stored = list(connection.execute(select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.outcome_at)))
    finally:
        store.close()
    expected = {key(feedback_item(thread, post)) for thread in range(THREADS) for post in range(POSTS)}
    assert len(stored) == len(set(stored)) == len(expected)
    assert set(stored) == expected
    assert totals["stored"] == len(expected)
    assert totals["duplicates"] == THREADS * POSTS - len(expected)
    assert totals["unknownCards"] == sum(card not in KNOWN for card, _, _ in expected)


def test_replay_cache_lets_exactly_one_of_two_threads_through(store):
    caches = [SQLReplayCache(store.engine) for _ in range(2)]
    expires_at = datetime.now(timezone.utc).timestamp() + 300
    rounds = 100
    start = threading.Barrier(2)

    def race(cache: SQLReplayCache) -> list[bool]:
        results = []
        for round_ in range(rounds):
            start.wait()
            results.append(cache.seen("https://ehr.example.org", f"jti-{round_}", expires_at))
        return results

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(race, caches)
    assert all(sorted(pair) == [False, True] for pair in zip(first, second))
