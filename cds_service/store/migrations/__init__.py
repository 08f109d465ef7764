"""Alembic migrations of the feedback and audit store, run by ``cds_service.store.sql.migrate``."""
