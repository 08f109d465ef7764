"""Alembic migrations of the feedback and audit store, run by ``cds_service.db.migrate``."""
