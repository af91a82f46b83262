"""Alembic environment: always run programmatically with a connection from `upgrade_database`."""

from alembic import context

from endotrial.store.metadata import target_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
