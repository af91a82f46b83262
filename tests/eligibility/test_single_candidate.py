"""One candidate through the prepared query gives exactly what the long way (the file path) gives,
and a warm screening neither writes nor parses the query again (issue 8, finding 7)."""

from __future__ import annotations

import datetime as dt
import decimal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import adbc_driver_manager
import pyarrow as pa
import pytest
from seed_candidate import SCREENING_DAY, TODAY
from seed_candidate import eligible_items as _eligible

from endotrial.eligibility import CandidateResult, ScreeningRun, engine, screen_candidate
from endotrial.eligibility import sql as query_sql
from endotrial.eligibility.prepared import OneRowScreener
from endotrial.protocol import Protocol

#: Changes to the eligible candidate: bad values, unknowns, conflicts, arm criteria, odd types.
CASES: dict[str, dict[str, Any]] = {
    "eligible": {},
    "too old": {"age_years": 45},
    "age as text": {"age_years": " 30 "},
    "age not a number": {"age_years": "thirty"},
    "age not whole": {"age_years": 30.5},
    "age out of range": {"age_years": 130},
    "age blank": {"age_years": None},
    "age from birth date": {"age_years": None, "birth_date": dt.date(1990, 7, 1)},
    "age disagrees with birth date": {"age_years": 30, "birth_date": dt.date(1980, 1, 1)},
    "age 126 from birth date": {"age_years": None, "birth_date": dt.date(1899, 5, 1)},
    "birth date after screening": {"age_years": None, "birth_date": "2025-07-01"},
    "bmi from weight and height": {"bmi_kg_m2": None, "weight_kg": 60, "height_cm": 165},
    "bmi disagrees": {"bmi_kg_m2": 30.0, "weight_kg": 60, "height_cm": 165},
    "bmi bad weight": {"bmi_kg_m2": None, "weight_kg": "heavy", "height_cm": 165},
    "screening in the future": {"screening_date": dt.date(2025, 7, 5)},
    "screening date as text": {"screening_date": "2025-06-02"},
    "screening date misspelt": {"screening_date": "2025-13-02"},
    "screening date ancient": {"screening_date": dt.date(1850, 1, 1)},
    "screening date as a datetime": {"screening_date": dt.datetime(2025, 6, 2, 9, 30)},
    "serology after screening": {"serology_date": dt.date(2025, 6, 10)},
    "serology too old": {"serology_date": dt.date(2024, 1, 1)},
    "sex blank": {"sex": None},
    "sex lower case": {"sex": " f "},
    "sex misspelt": {"sex": "female"},
    "hbsag unknown word": {"hbsag": "unknown"},
    "hbsag positive": {"hbsag": "positive"},
    "boolean words": {"sex_hormones_normal": "yes", "hydrosalpinx": "n"},
    "boolean nonsense": {"sex_hormones_normal": "maybe"},
    "boolean as integers": {"hydrosalpinx": 0, "cardiac_disease": 1},
    "exclusion met": {"hypertension": True},
    "exclusion unknown": {"hypertension": None},
    "other trial recently": {"last_other_trial_date": dt.date(2025, 5, 1)},
    "other trial bad date": {"last_other_trial_date": "last spring"},
    "iodine allergy": {"iodine_allergy": True},
    "iodine allergy unknown": {"iodine_allergy": None},
    "iodine allergy unreadable": {"iodine_allergy": "not sure"},
    "platelets a decimal": {"platelets_1e9_l": decimal.Decimal("220.5")},
    "platelets too large for an integer": {"platelets_1e9_l": 10**30},
    "platelets not finite": {"platelets_1e9_l": float("inf")},
    "blank id": {"candidate_id": "   "},
    "id as a number": {"candidate_id": 17},
    "unknown column": {"agee": 30},
    "quote in a value": {"hiv_ab": "it's negative"},
    "many problems": {
        "age_years": "x",
        "bmi_kg_m2": 200,
        "afc": None,
        "hbsag": None,
        "iodine_allergy": None,
        "hypertension": True,
    },
}


def _candidate(case: str) -> dict[str, Any]:
    return {**_eligible(), **CASES[case]}


def _long_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, one-row tables go the file path's way (as every table did before)."""
    monkeypatch.setattr(engine, "_one_row", lambda *_args, **_kwargs: None)


def _prepared_row(protocol: Protocol, table: pa.Table, *, per_field: bool) -> dict[str, Any]:
    """The prepared path's own answer, so a test cannot pass by falling back to the long way."""
    source = engine.from_arrow(table, "form")
    row = engine._one_row(protocol, source, table, today=TODAY, per_field=per_field)
    assert row is not None, "the one-row table was not screened through its prepared query"
    return row


@pytest.mark.parametrize("case", list(CASES))
def test_one_candidate_gets_what_the_file_path_gives(
    seed_protocol: Protocol, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _candidate(case)
    table = pa.table({name: engine._one_value(value) for name, value in items.items()})
    _prepared_row(seed_protocol, table, per_field=True)
    fast = screen_candidate(seed_protocol, items, today=TODAY)
    _long_way(monkeypatch)
    slow = screen_candidate(seed_protocol, items, today=TODAY)
    assert fast == slow


def _runs_equal(fast: ScreeningRun, slow: ScreeningRun) -> None:
    assert fast.results.equals(slow.results)
    assert fast.results.schema == slow.results.schema
    assert (fast.protocol_id, fast.source, fast.file_warnings, fast.to_confirm) == (
        slow.protocol_id,
        slow.source,
        slow.file_warnings,
        slow.to_confirm,
    )
    assert fast.counts == slow.counts


#: The cases whose messages name a place (row 1, a column) or whose values Arrow types its own way
#: in a table; the others differ from `screen_candidate`'s only in how the row is packed.
TABLE_CASES = [
    "eligible",
    "age not a number",
    "age disagrees with birth date",
    "age 126 from birth date",
    "bmi disagrees",
    "screening in the future",
    "screening date misspelt",
    "screening date as a datetime",
    "sex misspelt",
    "boolean nonsense",
    "boolean as integers",
    "iodine allergy unknown",
    "platelets a decimal",
    "blank id",
    "id as a number",
    "unknown column",
    "many problems",
]


@pytest.mark.parametrize("case", TABLE_CASES)
def test_a_one_row_table_gets_what_the_file_path_gives(
    seed_protocol: Protocol, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the services send it: typed by Arrow from the form's values, messages naming row 1."""
    table = pa.Table.from_pylist([_candidate(case)])
    _prepared_row(seed_protocol, table, per_field=False)
    fast = engine.screen_table(seed_protocol, table, label="screening form", today=TODAY)
    _long_way(monkeypatch)
    slow = engine.screen_table(seed_protocol, table, label="screening form", today=TODAY)
    _runs_equal(fast, slow)


@pytest.mark.parametrize(
    "column",
    [
        pa.array(["30"], pa.large_string()),
        pa.array([30], pa.int8()),
        pa.array([30], pa.uint16()),
        pa.array([30.0], pa.float32()),
        pa.array([None], pa.null()),
        pa.array([decimal.Decimal("30.00")], pa.decimal128(5, 2)),
        pa.array(["30"]).dictionary_encode(),
    ],
    ids=str,
)
def test_column_types_a_table_may_hold(
    seed_protocol: Protocol, column: pa.Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    eligible = pa.Table.from_pylist([_eligible()])
    table = eligible.set_column(eligible.schema.get_field_index("age_years"), "age_years", column)
    fast = engine.screen_table(seed_protocol, table, today=TODAY)
    _long_way(monkeypatch)
    slow = engine.screen_table(seed_protocol, table, today=TODAY)
    _runs_equal(fast, slow)


def test_the_second_protocol_too(
    second_protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {
        "candidate_id": "S1",
        "screening_date": SCREENING_DAY,
        "age_years": 30,
        "thickness_mm": 5.5,
        "scan_date": dt.date(2025, 5, 1),
        "amh_ng_ml": 2.0,
        "smoker": "never",
        "latex_allergy": False,
    }
    variants = [{}, {"latex_allergy": "yes"}, {"smoker": "sometimes"}, {"amh_ng_ml": None}]
    fast = [screen_candidate(second_protocol, {**base, **v}, today=TODAY) for v in variants]
    _long_way(monkeypatch)
    slow = [screen_candidate(second_protocol, {**base, **v}, today=TODAY) for v in variants]
    assert fast == slow


def test_today_is_read_on_each_run_not_kept_from_the_first(seed_protocol: Protocol) -> None:
    """One prepared query serves any day: the future-date check uses the day it is given."""
    items = {**_eligible(), "screening_date": dt.date(2025, 7, 5)}
    before = screen_candidate(seed_protocol, items, today=TODAY)
    after = screen_candidate(seed_protocol, items, today=dt.date(2025, 7, 10))
    assert before.errors == (
        "screening_date: '2025-07-05' is a date in the future (today is 2025-06-30); "
        "correct the date",
    )
    assert before.decision == "incomplete"
    assert after.errors == ()
    assert after.decision == "eligible"


def test_a_warm_screening_neither_writes_nor_parses_the_query(
    seed_protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every call wrote the 30-50 KB query and DuckDB's Python client parsed, bound and
    planned it (twice: once for the ids, once for the rows), 100-400 ms a candidate."""
    screen_candidate(seed_protocol, _eligible(), today=TODAY)  # warm: the layout is prepared

    def refused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a warm screening of one candidate wrote or ran a new query")

    monkeypatch.setattr(query_sql._Generator, "query", refused)
    monkeypatch.setattr(engine, "_connection", refused)
    monkeypatch.setattr(OneRowScreener, "_prepare", refused)
    # the same column layout (names and types), other values and another day
    for case in ("too old", "exclusion met", "iodine allergy", "hbsag positive"):
        result = screen_candidate(seed_protocol, _candidate(case), today=dt.date(2025, 7, 1))
        assert result.decision == "ineligible" or result.eligible_arms == ("control",)


def test_a_table_of_several_rows_goes_the_file_path_way(seed_protocol: Protocol) -> None:
    rows = [{**_eligible(), "candidate_id": f"C{n}"} for n in range(2)]
    table = pa.Table.from_pylist(rows)
    source = engine.from_arrow(table, "table")
    assert engine._one_row(seed_protocol, source, table, today=TODAY, per_field=False) is None
    run = engine.screen_table(seed_protocol, table, today=TODAY)
    assert run.counts["eligible"] == 2


def test_concurrent_single_candidates_keep_their_own_values(seed_protocol: Protocol) -> None:
    def screen(age: int) -> CandidateResult:
        items = {**_eligible(), "candidate_id": f"A{age}", "age_years": age}
        return screen_candidate(seed_protocol, items, today=TODAY)

    ages = [18 + n % 25 for n in range(60)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(screen, ages))
    for age, result in zip(ages, results, strict=True):
        assert result.candidate_id == f"A{age}"
        assert result.decision == ("eligible" if 20 <= age <= 38 else "ineligible")


# --- the prepared queries' database is sandboxed as the file path's is --------------------------


@pytest.fixture
def form_connection() -> adbc_driver_manager.AdbcConnection:
    screener = engine._one_row_screener()
    assert screener is not None
    return screener._connection


def _refused(connection: adbc_driver_manager.AdbcConnection, sql: str) -> str:
    statement = adbc_driver_manager.AdbcStatement(connection)
    try:
        with pytest.raises(adbc_driver_manager.Error) as caught:
            statement.set_sql_query(sql)
            statement.execute_update()
    finally:
        statement.close()
    return str(caught.value)


def test_the_form_database_reads_no_file(
    form_connection: adbc_driver_manager.AdbcConnection, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n", encoding="utf-8")
    for reader in ("read_csv", "read_text", "read_parquet"):
        message = _refused(form_connection, f"SELECT * FROM {reader}('{secret}')")
        assert "disabled by configuration" in message, (reader, message)
    _refused(form_connection, f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'")
    _refused(form_connection, "INSTALL httpfs")
    assert [p.name for p in tmp_path.iterdir()] == ["secret.csv"]


@pytest.mark.parametrize(
    "setting",
    ["enable_external_access = true", "lock_configuration = false", "threads = 64"],
)
def test_the_form_database_settings_are_locked(
    form_connection: adbc_driver_manager.AdbcConnection, setting: str
) -> None:
    assert "locked" in _refused(form_connection, f"SET {setting}")


@pytest.mark.parametrize("case", list(CASES))
def test_a_forms_values_are_typed_as_one_value_at_a_time_would_type_them(case: str) -> None:
    """The one-step table of a form's values has the columns the value-by-value one has."""
    values = _candidate(case)
    one_by_one = pa.table({name: engine._one_value(value) for name, value in values.items()})
    assert engine._one_row_table(values).equals(one_by_one, check_metadata=True)
