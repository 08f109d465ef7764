"""Alembic environment: runs on the connection ``cds_service.store.sql.alembic_config`` hands over."""
from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
