"""Feedback, audit and JWT replay storage: in-process and SQL stores, Alembic migrations."""
