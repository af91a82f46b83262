"""Service tests use the shared `engine` fixture: SQLite, and PostgreSQL when configured."""
