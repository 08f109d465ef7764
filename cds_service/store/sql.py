"""Durable feedback and audit store on SQLAlchemy 2: a SQLite file by default, PostgreSQL in production.

``open_store(url)`` picks the store from ``TRD_CDS_DATABASE_URL``: ``memory://`` gives the in-process
``MemoryStore`` (unit tests), ``sqlite:///path`` a SQLite file (relative paths resolve against the
working directory; WAL mode, busy timeout, foreign keys on) and ``postgresql+psycopg://...``
PostgreSQL through psycopg 3. The schema is migrated to the newest Alembic revision on opening.

Only identifiers are stored: no tokens, no card text, no names.
"""
from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (JSON, Boolean, Column, DateTime, Double, Engine, ForeignKey, Integer, MetaData,
                        String, Table, Text, TypeDecorator, UniqueConstraint, create_engine, delete,
                        event, exc, insert, make_url, select, text)
from sqlalchemy.dialects import postgresql, sqlite

from cds_service.config import ConfigError
from cds_service.errors import StoreUnavailable
from cds_service.ops import metrics
from cds_service.store.memory import FeedbackResult, MemoryStore
from cds_service.store.replay import MemoryReplayCache

log = logging.getLogger(__name__)
MEMORY_URL = "memory://"
SQLITE_BUSY_TIMEOUT_MS = 10_000  # migrations and maintenance wait this long for SQLite's write lock
REQUEST_BUSY_TIMEOUT_MS = 2000  # a write a client waits on gives up sooner: the store is "unavailable"
POSTGRES_CONNECT_TIMEOUT_S = 3
REPLAY_PURGE_EVERY_S = 60
REPLAY_FALLBACK_S = 5  # after a failed write, the replay cache stays in memory this long
_DIALECT_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as naive UTC, so SQLite and PostgreSQL compare and dedupe them alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData()
hook_calls = Table(
    "hook_call", metadata,
    Column("id", Integer, primary_key=True),
    Column("hook_instance", String, nullable=False),
    Column("service_id", String, nullable=False),
    Column("hook", String, nullable=False),
    Column("called_at", UTCDateTime, nullable=False, index=True),
    Column("patient_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("policy_version", String, nullable=False),
)
cards = Table(
    "card", metadata,
    Column("uuid", String, primary_key=True),
    Column("call_id", Integer, ForeignKey("hook_call.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("topic", String, nullable=False),
    Column("indicator", String, nullable=False),
)
feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True),
    Column("card_uuid", String, nullable=False),
    Column("service_id", String, nullable=False),
    Column("outcome", String, nullable=False),
    Column("outcome_at", UTCDateTime, nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),  # list of suggestion uuids
    Column("reason_system", String),
    Column("reason_code", String),
    Column("reason_display", String),
    Column("user_comment", Text),
    Column("issuer", String),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("unknown_card", Boolean, nullable=False),  # no card of ours has this uuid
    UniqueConstraint("card_uuid", "outcome", "outcome_at", name="uq_feedback_card_outcome_time"),
)
replays = Table(
    "jwt_replay", metadata,
    Column("issuer", String, primary_key=True),
    Column("jti", String, primary_key=True),
    Column("expires_at", Double, nullable=False, index=True),  # epoch seconds
)


def parse_utc(value: str) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime (no offset means UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def make_engine(url: str) -> Engine:
    """An engine for a SQLite or PostgreSQL URL (``postgresql://`` means psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in _DIALECT_INSERT:
        raise ConfigError(f"TRD_CDS_DATABASE_URL must be memory://, sqlite:/// or postgresql+psycopg://, "
                          f"not {parsed.get_backend_name()!r}")
    postgres = parsed.get_backend_name() == "postgresql"
    engine = create_engine(parsed, pool_pre_ping=postgres,
                           connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S} if postgres else {})
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit survives a crash or kill of the process (the WAL is in the OS page
    # cache); only a power loss can undo the last commits. No fsync on the hot path.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def request_transaction(engine: Engine):
    """A transaction for a write a client waits on: on SQLite it waits at most REQUEST_BUSY_TIMEOUT_MS
    for the write lock. A database error leaves as ``StoreUnavailable`` (503) and discards the
    connection, so none opened read-only or broken during a fault outlives it."""
    try:
        with engine.connect() as connection:
            sqlite_file = connection.dialect.name == "sqlite"
            try:
                if sqlite_file:
                    _busy_timeout(connection, REQUEST_BUSY_TIMEOUT_MS)
                with connection.begin():
                    yield connection
            except exc.DBAPIError:
                connection.invalidate()
                raise
            finally:
                if sqlite_file and not connection.invalidated:
                    _busy_timeout(connection, SQLITE_BUSY_TIMEOUT_MS)
    except exc.DBAPIError as error:
        log.warning("store write failed: %s", str(error.orig).splitlines()[0] if str(error.orig) else error)
        raise StoreUnavailable("the store cannot be written now; nothing was stored, retry later") from None


def _busy_timeout(connection, milliseconds: int) -> None:
    connection.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={milliseconds}")


def alembic_config(connection) -> Config:
    """The Alembic configuration of the packaged migrations, running on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema; concurrent start-ups serialize on a lock, so only one migrates."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('trd-cds migrations'))"))
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), revision)
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.info("database schema migrated from %s to %s", before or "(empty)", after)


def open_store(url: str):
    """The store named by ``url``: ``MemoryStore`` for ``memory://``, else a migrated ``SQLStore``."""
    if url == MEMORY_URL:
        return MemoryStore()
    engine = make_engine(url)
    migrate(engine)
    return SQLStore(engine)


def _insert_ignoring_conflicts(engine: Engine, table: Table):
    return _DIALECT_INSERT[engine.dialect.name](table).on_conflict_do_nothing()


class SQLStore:
    """The ``Store`` interface on SQL; idempotency rests on unique constraints, so workers may share it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._insert_calls = insert(hook_calls).returning(hook_calls.c.id, sort_by_parameter_order=True)
        self._insert_cards = _insert_ignoring_conflicts(engine, cards)

    def replay_cache(self) -> "SQLReplayCache":
        """JWT ``jti`` replay cache shared by every worker and host using this database."""
        return SQLReplayCache(self.engine)

    def record_audit(self, *audits: dict) -> None:
        """Write audit rows (``cds_service.store.audit`` batches them) in one transaction: one
        executemany for the hook calls, one for their cards. No client waits on it; the short lock
        wait of ``request_transaction`` bounds a stopping worker's last write."""
        calls = [{"hook_instance": audit["hookInstance"], "service_id": audit["service"], "hook": audit["hook"],
                  "called_at": parse_utc(audit["time"]), "patient_id": audit["patientId"], "user_id": audit["userId"],
                  "policy_version": audit["policyVersion"]} for audit in audits]
        with request_transaction(self.engine) as connection:
            call_ids = connection.execute(self._insert_calls, calls).scalars().all()  # in the order of `calls`
            connection.execute(self._insert_cards, [
                {"uuid": card["uuid"], "call_id": call_id, "topic": card["topic"], "indicator": card["indicator"]}
                for call_id, audit in zip(call_ids, audits) for card in audit["cards"]])

    def record_feedback(self, service_id: str, items: list[dict], issuer: str | None) -> FeedbackResult:
        received_at = datetime.now(timezone.utc)
        rows = [_feedback_row(service_id, item, issuer, received_at) for item in items]
        stored = unknown = 0
        statement = _insert_ignoring_conflicts(self.engine, feedback).returning(feedback.c.id)
        with request_transaction(self.engine) as connection:
            known = set(connection.scalars(select(cards.c.uuid).where(
                cards.c.uuid.in_([row["card_uuid"] for row in rows]))))
            for row in rows:
                row["unknown_card"] = row["card_uuid"] not in known
                if connection.execute(statement, row).first():  # no row back: a duplicate
                    stored += 1
                    unknown += row["unknown_card"]
        return FeedbackResult(stored, len(rows) - stored, unknown)

    def ping(self) -> bool:
        """True when the store can write: a row is written and deleted in one committed transaction,
        so a locked, read-only or stopped store raises ``StoreUnavailable`` (a read would not)."""
        probe = {"issuer": "trd-cds readiness probe", "jti": str(uuid.uuid4()), "expires_at": 0.0}
        with request_transaction(self.engine) as connection:
            connection.execute(insert(replays).values(probe))
            connection.execute(delete(replays).where(replays.c.jti == probe["jti"]))
        return True

    def purge(self, older_than: timedelta) -> dict[str, int]:
        """Delete hook calls, their cards and feedback received before now - ``older_than``, and every
        expired replay-cache entry; returns the number of rows deleted per table."""
        now = datetime.now(timezone.utc)
        cutoff = now - older_than
        old_calls = select(hook_calls.c.id).where(hook_calls.c.called_at < cutoff)
        statements = {
            "feedback": delete(feedback).where(feedback.c.received_at < cutoff),
            "card": delete(cards).where(cards.c.call_id.in_(old_calls)),
            "hook_call": delete(hook_calls).where(hook_calls.c.called_at < cutoff),
            "jwt_replay": delete(replays).where(replays.c.expires_at <= now.timestamp()),
        }
        with self.engine.begin() as connection:
            return {table: connection.execute(statement).rowcount for table, statement in statements.items()}

    def close(self) -> None:
        self.engine.dispose()


def _feedback_row(service_id: str, item: dict, issuer: str | None, received_at: datetime) -> dict:
    override = item.get("overrideReason") or {}
    reason = override.get("reason") or {}
    return {
        "card_uuid": item["card"], "service_id": service_id, "outcome": item["outcome"],
        "outcome_at": parse_utc(item["outcomeTimestamp"]),
        "accepted_suggestions": [suggestion["id"] for suggestion in item.get("acceptedSuggestions", [])],
        "reason_system": reason.get("system"), "reason_code": reason.get("code"),
        "reason_display": reason.get("display"), "user_comment": override.get("userComment"),
        "issuer": issuer, "received_at": received_at,
    }


class SQLReplayCache:
    """JWT ``jti`` replay cache shared by all workers (``cds_service.store.replay.ReplayCache``).

    One upsert decides atomically: a new (issuer, jti), or one whose entry has expired, is recorded
    and answers False; a live one answers True. Expired rows are purged at most once a minute.
    """

    def __init__(self, engine: Engine, clock=time.time):
        self.engine = engine
        self._clock = clock
        self._next_purge = 0.0
        self._fallback = MemoryReplayCache(clock)  # while the database cannot be written
        self._fallback_until = 0.0

    def seen(self, issuer: str, jti: str, expires_at: float) -> bool:
        """The shared check; while the store cannot be written, this process's memory decides
        (retried every REPLAY_FALLBACK_S, so calls do not each wait for a failing store)."""
        if self._clock() >= self._fallback_until:
            try:
                return self._seen_in_database(issuer, jti, expires_at)
            except StoreUnavailable:
                metrics.STORE_ERRORS.labels("replay_cache").inc()
                self._fallback_until = self._clock() + REPLAY_FALLBACK_S
                log.warning("JWT replay cache: store cannot be written; jti checked in this process only "
                            "for %d s", REPLAY_FALLBACK_S)
        return self._fallback.seen(issuer, jti, expires_at)

    def _seen_in_database(self, issuer: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        statement = _DIALECT_INSERT[self.engine.dialect.name](replays).values(
            issuer=issuer, jti=jti, expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=[replays.c.issuer, replays.c.jti], set_={"expires_at": statement.excluded.expires_at},
            where=replays.c.expires_at <= now).returning(replays.c.jti)
        with request_transaction(self.engine) as connection:
            if now >= self._next_purge:
                self._next_purge = now + REPLAY_PURGE_EVERY_S
                connection.execute(delete(replays).where(replays.c.expires_at <= now))
            return connection.execute(statement).first() is None
