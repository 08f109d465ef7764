"""Feedback and audit storage: the interface the routes use, and an in-process implementation.

The in-process store keeps what one worker saw; a durable SQL store implements the same
methods. Feedback is idempotent on (card uuid, outcome, outcomeTimestamp); feedback for a card
this store never issued is kept and flagged, never dropped.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from cds_service.store.replay import MemoryReplayCache, ReplayCache


@dataclass(frozen=True)
class FeedbackResult:
    stored: int
    duplicates: int
    unknown_cards: int


class Store(Protocol):
    def record_audit(self, *audits: dict) -> None: ...  # all in one transaction
    def record_feedback(self, service_id: str, items: list[dict], issuer: str | None) -> FeedbackResult: ...
    def ping(self) -> bool: ...  # True when the store can write now
    def replay_cache(self) -> ReplayCache: ...


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.audits: list[dict] = []
        self.cards: set[str] = set()
        self.feedback: dict[tuple[str, str, str], dict] = {}

    def record_audit(self, *audits: dict) -> None:
        with self._lock:
            self.audits.extend(audits)
            self.cards.update(card["uuid"] for audit in audits for card in audit["cards"])

    def record_feedback(self, service_id: str, items: list[dict], issuer: str | None) -> FeedbackResult:
        stored = duplicates = unknown = 0
        with self._lock:
            for item in items:
                key = (item["card"], item["outcome"], item["outcomeTimestamp"])
                if key in self.feedback:
                    duplicates += 1
                    continue
                known = item["card"] in self.cards
                unknown += not known
                self.feedback[key] = {**item, "service": service_id, "issuer": issuer, "unknownCard": not known}
                stored += 1
        return FeedbackResult(stored, duplicates, unknown)

    def ping(self) -> bool:
        return True

    def replay_cache(self) -> ReplayCache:
        """JWT ``jti`` replay cache of this process (enough with one worker)."""
        return MemoryReplayCache()
