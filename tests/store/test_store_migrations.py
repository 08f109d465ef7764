"""Alembic migrations: empty database to head, down to base and back, models in step, concurrent start-ups."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from cds_service.store.sql import alembic_config, make_engine, metadata, migrate, open_store
from tests.store.records import SERVICE, accepted, audit, card_uuid

TABLES = {"hook_call", "card", "feedback", "jwt_replay"}


def table_names(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def current_revision(engine) -> str:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_empty_database_migrates_to_head_and_matches_the_models(database_url):
    engine = make_engine(database_url)
    try:
        assert table_names(engine) == set()
        migrate(engine)
        assert table_names(engine) == TABLES | {"alembic_version"}
        with engine.connect() as connection:
            head = ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        assert current_revision(engine) == head
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        assert table_names(engine) == {"alembic_version"}
        migrate(engine)
        assert table_names(engine) >= TABLES
    finally:
        engine.dispose()
    store = open_store(database_url)  # already at head: opening again is a no-op
    try:
        store.record_audit(audit(card_uuid(1)))
        assert store.record_feedback(SERVICE, [accepted(card_uuid(1))], None).stored == 1
    finally:
        store.close()


def test_concurrent_start_ups_migrate_once(database_url):
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(database_url), range(4)))
    try:
        assert all(store.ping() for store in stores)
        with stores[0].engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        for store in stores:
            store.close()
