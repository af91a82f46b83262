"""The screening database reads only the rows handed to it: no file, network or extension can be
reached from a query, and its resource limits cannot be lifted (issue 6, finding 5)."""

from pathlib import Path

import duckdb
import pytest

from endotrial.eligibility import engine


@pytest.fixture
def connection() -> duckdb.DuckDBPyConnection:
    cursor = engine._connection()
    yield cursor
    cursor.close()


def _refused(connection: duckdb.DuckDBPyConnection, sql: str) -> str:
    with pytest.raises(duckdb.Error) as caught:
        connection.execute(sql)
    return str(caught.value)


def test_a_query_cannot_read_a_file(connection: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n", encoding="utf-8")
    for reader in ("read_csv", "read_text", "read_parquet", "glob"):
        message = _refused(connection, f"SELECT * FROM {reader}('{secret}')")
        assert "disabled by configuration" in message, (reader, message)


def test_a_query_cannot_write_or_attach_a_file(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    _refused(connection, f"COPY (SELECT 1) TO '{target}'")
    _refused(connection, f"ATTACH '{tmp_path / 'other.duckdb'}'")
    assert list(tmp_path.iterdir()) == []


def test_no_extension_can_be_installed_or_loaded(connection: duckdb.DuckDBPyConnection) -> None:
    _refused(connection, "INSTALL httpfs")
    _refused(connection, "LOAD httpfs")


@pytest.mark.parametrize(
    "setting",
    [
        "enable_external_access = true",
        "lock_configuration = false",
        "memory_limit = '100GB'",
        "threads = 64",
        "allowed_directories = ['/']",
        "temp_directory = '/tmp/elsewhere'",
    ],
)
def test_the_sandbox_and_limits_are_locked(
    connection: duckdb.DuckDBPyConnection, setting: str
) -> None:
    assert "locked" in _refused(connection, f"SET {setting}")


def test_memory_threads_and_spill_are_bounded(connection: duckdb.DuckDBPyConnection) -> None:
    settings = dict(
        connection.sql(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('memory_limit', 'threads', 'max_temp_directory_size', 'temp_directory')"
        ).fetchall()
    )
    assert settings["memory_limit"] == "953.6 MiB"  # DATABASE_MEMORY_LIMIT, 1 GB
    assert int(settings["threads"]) <= engine.DATABASE_MAX_THREADS
    assert settings["max_temp_directory_size"] == "3.7 GiB"  # DATABASE_TEMP_LIMIT, 4 GB
    # spilled blocks go to a private folder, not to a `.tmp` in the user's working folder
    assert Path(settings["temp_directory"]).is_absolute()
