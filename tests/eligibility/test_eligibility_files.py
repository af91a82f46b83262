"""Screening files and tables: bad values per row, file-level problems, CSV = Parquet = memory."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from endotrial.eligibility import RESULT_COLUMNS, screen_file, screen_table
from endotrial.errors import InputError
from endotrial.protocol import Protocol


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    names = list(dict.fromkeys(name for row in rows for name in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows({name: _text(row.get(name)) for name in names} for row in rows)
    return path


def by_id(run: Any) -> dict[str, dict[str, Any]]:
    return {row["candidate_id"]: row for row in run.rows()}


@pytest.fixture
def mixed_rows(eligible: dict[str, Any]) -> list[dict[str, Any]]:
    """Five good rows (eligible, ineligible, incomplete, iodine) and malformed ones between."""
    return [
        {**eligible, "candidate_id": "OK1"},
        {**eligible, "candidate_id": "BADAGE", "age_years": "abc"},
        {
            **eligible,
            "candidate_id": "NEGWT",
            "bmi_kg_m2": None,
            "weight_kg": -60,
            "height_cm": 160,
        },
        {**eligible, "candidate_id": "FUTURE", "serology_date": "2025-07-01"},
        {**eligible, "candidate_id": "INELIG", "hypertension": True},
        {**eligible, "candidate_id": "OK1", "afc": 2},
        {**eligible, "candidate_id": "INCOMP", "afc": None},
        {**eligible, "candidate_id": "", "age_years": 25},
        {**eligible, "candidate_id": "IODINE", "iodine_allergy": "Y"},
    ]


def test_malformed_rows_get_messages_and_the_others_are_screened(
    tmp_path: Path, seed_protocol: Protocol, mixed_rows: list[dict[str, Any]], today: dt.date
) -> None:
    path = write_csv(tmp_path / "candidates.csv", mixed_rows)
    run = screen_file(seed_protocol, path, today=today)
    rows = run.rows()
    assert [r["row"] for r in rows] == list(range(1, 10))
    assert [r["decision"] for r in rows] == [
        "eligible", "incomplete", "incomplete", "incomplete", "ineligible",
        "invalid", "incomplete", "invalid", "eligible",
    ]  # fmt: skip
    assert rows[1]["errors"] == [
        "row 2, column age_years: 'abc' is not a number; correct it, or leave it blank if not known"
    ]
    assert rows[1]["missing_items"] == ["age_years (or birth_date)"]
    assert rows[2]["errors"] == [
        "row 3, column weight_kg: '-60' is below the minimum 25 kg; correct the value"
    ]
    assert rows[3]["errors"] == [
        "row 4, column serology_date: '2025-07-01' is after screening_date 2025-06-02 "
        "(a date in the future); correct the date"
    ]
    assert rows[3]["unknown_criteria"] == ["I6"]
    assert rows[5]["errors"] == [
        "row 6, column candidate_id: 'OK1' repeats the id of row 1; give each candidate a unique id"
    ]
    assert rows[7]["errors"] == [
        "row 8, column candidate_id: blank; give every candidate a unique id"
    ]
    assert rows[8]["eligible_arms"] == ["control"]
    assert run.counts == {"eligible": 2, "ineligible": 1, "incomplete": 4, "invalid": 2}
    assert run.file_warnings == ()


def test_a_bad_value_cannot_hide_a_failed_criterion(
    tmp_path: Path, seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    row = {**eligible, "age_years": "abc", "hiv_ab": "positive"}
    run = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", [row]), today=today)
    (result,) = run.rows()
    assert result["decision"] == "ineligible"
    assert result["failed_criteria"] == ["I6"]
    assert len(result["errors"]) == 1


@pytest.mark.parametrize("bad_date", ["2026-13-01", "2099-01-01"])
def test_a_bad_value_is_not_read_as_a_blank(
    tmp_path: Path, seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date, bad_date: str
) -> None:
    """E16 reads a blank trial date as 'never in another trial'; an unreadable or future date
    is not blank: the criterion stays UNKNOWN, naming the item, until the date is corrected."""
    row = {**eligible, "last_other_trial_date": bad_date}
    run = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", [row]), today=today)
    (result,) = run.rows()
    assert result["decision"] == "incomplete"
    assert result["unknown_criteria"] == ["E16"]
    assert result["missing_items"] == ["last_other_trial_date"]
    assert "column last_other_trial_date" in result["errors"][0]


def test_a_typed_value_must_agree_with_the_one_computed(
    tmp_path: Path, seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    """Age typed 30 but birth date giving 45; BMI typed 22 but weight and height giving 31.25:
    neither typed value silently wins. BMI typed 22 for 21.8 (rounding) is no conflict."""
    born_45_years_before = today.replace(year=today.year - 46).isoformat()
    rows = [
        {**eligible, "candidate_id": "age", "birth_date": born_45_years_before},
        {**eligible, "candidate_id": "bmi", "weight_kg": 80, "height_cm": 160},
        {**eligible, "candidate_id": "ok", "weight_kg": 55.8, "height_cm": 160},
    ]
    run = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", rows), today=today)
    age, bmi, ok = run.rows()
    assert (age["decision"], age["unknown_criteria"]) == ("incomplete", ["I2"])
    assert age["errors"] == [
        "row 1, column age_years: '30' disagrees with 45 computed from screening_date and "
        "birth_date; correct one of them, or leave age_years blank"
    ]
    assert (bmi["decision"], bmi["unknown_criteria"]) == ("incomplete", ["I3"])
    assert "'22.0' disagrees with 31.25 computed from weight_kg and height_cm" in bmi["errors"][0]
    assert (ok["decision"], ok["errors"]) == ("eligible", [])


def test_ids_repeat_after_trimming_and_blank_ids_repeat_nothing(
    seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    ids = ["A1", " A1 ", None, "", "B2", "A1", "C3"]
    table = pa.Table.from_pylist([{**eligible, "candidate_id": cid} for cid in ids])
    rows = screen_table(seed_protocol, table, today=today).rows()
    assert [r["decision"] for r in rows] == [
        "eligible", "invalid", "invalid", "invalid", "eligible", "invalid", "eligible",
    ]  # fmt: skip
    assert [r["errors"] for r in rows][1] == [
        "row 2, column candidate_id: 'A1' repeats the id of row 1; give each candidate a unique id"
    ]
    assert rows[3]["errors"] == [
        "row 4, column candidate_id: blank; give every candidate a unique id"
    ]
    assert rows[5]["errors"][0].endswith(
        "'A1' repeats the id of row 1; give each candidate a unique id"
    )


def test_distinct_ids_are_screened_in_one_pass_in_row_order(
    seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    ids = [f"C{n}" for n in range(5000)] + [None, None]
    table = pa.Table.from_pylist([{**eligible, "candidate_id": cid} for cid in ids])
    run = screen_table(seed_protocol, table, today=today)
    assert run.results.column_names == list(RESULT_COLUMNS)
    assert run.results.column("row").to_pylist() == list(range(1, 5003))
    assert run.counts == {"eligible": 5000, "ineligible": 0, "incomplete": 0, "invalid": 2}


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("fsh_iu_l", "300", "'300' is above the maximum 200 IU/L; correct the value"),
        ("afc", "6.5", "'6.5' is not a whole number; correct it"),
        (
            "sex_hormones_normal",
            "maybe",
            "'maybe' is not yes/no; write true/false, yes/no, y/n or 1/0",
        ),
        ("serology_date", "2025-02-30", "'2025-02-30' is not a valid date; write it as yyyy-mm-dd"),
        ("serology_date", "01/03/2025", "'01/03/2025' is not a valid date; write it as yyyy-mm-dd"),
        ("hiv_ab", "unknown", "'unknown' is not one of negative, positive; correct the value"),
        (
            "screening_date",
            "2025-07-15",
            "'2025-07-15' is a date in the future (today is 2025-06-30)",
        ),
        ("birth_date", "2025-06-03", "'2025-06-03' is after screening_date 2025-06-02"),
    ],
)
def test_each_kind_of_bad_value_is_named(
    tmp_path: Path,
    seed_protocol: Protocol,
    eligible: dict[str, Any],
    today: dt.date,
    column: str,
    value: str,
    problem: str,
) -> None:
    bad_row = {**eligible, "candidate_id": "C002", column: value}
    if column == "birth_date":
        bad_row["age_years"] = None  # else the given age decides I2
    rows = [eligible, bad_row]
    run = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", rows), today=today)
    good, bad = run.rows()
    assert good["decision"] == "eligible"
    assert bad["decision"] != "eligible"
    (message,) = bad["errors"]
    assert message.startswith(f"row 2, column {column}: {problem}")


def test_accepted_spellings_of_booleans_and_categories(
    tmp_path: Path, seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    spellings = [("TRUE", "f", "Negative"), ("Yes", "F", "NEGATIVE"), ("1", " F ", "negative")]
    rows = [
        {**eligible, "candidate_id": f"C{i}", "sex_hormones_normal": yes, "sex": sex, "tpa": neg}
        for i, (yes, sex, neg) in enumerate(spellings)
    ]
    run = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", rows), today=today)
    assert [r["decision"] for r in run.rows()] == ["eligible"] * 3
    assert all(r["errors"] == [] for r in run.rows())


def test_an_unknown_column_is_one_warning_and_the_rows_are_screened(
    tmp_path: Path, seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    rows = [{**eligible, "favourite_colour": "blue", "hemoglobin_gl": 120}]
    run = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", rows), today=today)
    assert run.rows()[0]["decision"] == "eligible"
    assert len(run.file_warnings) == 2
    assert (
        "column 'favourite_colour' is not a data item of protocol nct07176143"
        in (run.file_warnings[0])
    )
    assert "(did you mean 'hemoglobin_g_l'?)" in run.file_warnings[1]


def test_absent_item_columns_are_warned_once(
    tmp_path: Path, seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    row = {k: v for k, v in eligible.items() if k not in ("afc", "age_years")}
    run = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", [row]), today=today)
    assert run.rows()[0]["decision"] == "incomplete"
    (warning,) = run.file_warnings
    assert "no column for age_years (or birth_date), afc" in warning


@pytest.mark.parametrize("content", ["", "candidate_id,age_years\n"])
def test_an_empty_file_is_refused_naming_it(
    tmp_path: Path, seed_protocol: Protocol, content: str
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=r"empty\.csv: .*(empty|no candidate rows)"):
        screen_file(seed_protocol, path)


def test_a_missing_file_or_id_column_is_refused(tmp_path: Path, seed_protocol: Protocol) -> None:
    with pytest.raises(InputError, match="no such file"):
        screen_file(seed_protocol, tmp_path / "nowhere.csv")
    path = tmp_path / "noid.csv"
    path.write_text("age_years\n30\n")
    with pytest.raises(InputError, match="no 'candidate_id' column"):
        screen_file(seed_protocol, path)


def test_a_ragged_row_is_invalid_naming_its_line_and_the_others_are_screened(
    tmp_path: Path, seed_protocol: Protocol
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("candidate_id,age_years\nC1,30\nC2,31,extra\nC3\nC4,32\n")
    rows = screen_file(seed_protocol, path).rows()
    assert [(r["row"], r["candidate_id"], r["decision"]) for r in rows] == [
        (1, "C1", "incomplete"),
        (2, "C2", "invalid"),
        (3, "C3", "invalid"),
        (4, "C4", "incomplete"),
    ]
    assert rows[1]["errors"] == [
        "row 2 (line 3): 3 fields where the header has 2, so the values cannot be matched to "
        "columns; the row was not screened: check its commas (quote a value holding a comma) "
        "and screen it again"
    ]
    assert rows[2]["errors"][0].startswith("row 3 (line 4): 1 field where the header has 2")


def _typed_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def test_csv_parquet_and_memory_give_identical_results(
    tmp_path: Path, seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    rows = [
        {**eligible, "candidate_id": "A"},
        {**eligible, "candidate_id": "B", "age_years": None, "birth_date": dt.date(2005, 6, 3)},
        {
            **eligible,
            "candidate_id": "C",
            "bmi_kg_m2": None,
            "weight_kg": -60.0,
            "height_cm": 160.0,
        },
        {**eligible, "candidate_id": "D", "afc": None, "cardiac_disease": None},
        {**eligible, "candidate_id": "E", "serology_date": dt.date(2025, 6, 20)},
        {**eligible, "candidate_id": "A", "iodine_allergy": True},
        {**eligible, "candidate_id": "F", "iodine_allergy": True, "fsh_iu_l": 10.1},
    ]
    for row in rows:
        row["birth_date"] = row.get("birth_date")
        row["weight_kg"] = row.get("weight_kg")
        row["height_cm"] = row.get("height_cm")
        for name in (
            "age_years",
            "bmi_kg_m2",
            "weight_kg",
            "height_cm",
            "fsh_iu_l",
            "platelets_1e9_l",
            "hemoglobin_g_l",
        ):
            row[name] = None if row[name] is None else float(row[name])
    table = _typed_table(rows)
    parquet = tmp_path / "c.parquet"
    pq.write_table(table, parquet)
    from_csv = screen_file(seed_protocol, write_csv(tmp_path / "c.csv", rows), today=today)
    from_parquet = screen_file(seed_protocol, parquet, today=today)
    from_pandas = screen_table(seed_protocol, table.to_pandas(), today=today)
    assert from_csv.results.column_names == list(RESULT_COLUMNS)
    assert from_csv.results.equals(from_parquet.results)
    assert from_pandas.results.equals(from_parquet.results)
    assert [r["decision"] for r in from_csv.rows()] == [
        "eligible", "ineligible", "incomplete", "incomplete", "incomplete", "invalid",
        "ineligible",
    ]  # fmt: skip
    # A value error keeps its value's spelling per source, so compare the number only.
    assert from_parquet.rows()[2]["errors"][0].startswith("row 3, column weight_kg: '-60")


def test_results_write_as_csv_parquet_and_json(
    tmp_path: Path, seed_protocol: Protocol, mixed_rows: list[dict[str, Any]], today: dt.date
) -> None:
    run = screen_file(seed_protocol, write_csv(tmp_path / "in.csv", mixed_rows), today=today)
    assert pq.read_table(run.write(tmp_path / "out.parquet")).equals(run.results)
    written = pd.read_csv(run.write(tmp_path / "out.csv"), keep_default_na=False)
    assert list(written.columns) == list(RESULT_COLUMNS)
    assert written.loc[4, "failed_criteria"] == "E8"
    document = json.loads(run.to_json())
    assert document["counts"]["invalid"] == 2
    assert document["to_confirm_at_enrolment"][0]["criterion"] == "I1"
    assert document["candidates"][8]["arm_notes"][0].startswith("IODINE:")
    summary = run.summary()
    assert "9 candidates" in summary and "I1 to confirm at enrolment" in summary


def test_a_table_of_text_from_pandas_is_parsed_like_a_csv(
    seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    frame = pd.DataFrame([{k: _text(v) or None for k, v in eligible.items()}])
    run = screen_table(seed_protocol, frame, today=today)
    assert run.rows()[0]["decision"] == "eligible"


def test_the_readme_example_file_shows_every_decision(seed_protocol: Protocol) -> None:
    example = Path(__file__).parents[2] / "examples" / "candidates.csv"
    run = screen_file(seed_protocol, example)
    assert run.counts == {"eligible": 5, "ineligible": 17, "incomplete": 7, "invalid": 1}
    assert run.rows_with_errors == 4
