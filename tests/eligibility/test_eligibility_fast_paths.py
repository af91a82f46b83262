"""The engine's shortcuts give the answers of the long way: month arithmetic on dates, category
text trimmed only where it does not already match, one database shared by concurrent screenings."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pytest

from endotrial.eligibility import screen_table
from endotrial.protocol import Protocol

MONTH_END = dt.date(2025, 8, 31)


@pytest.mark.parametrize(
    ("serology", "met"),
    [
        (dt.date(2025, 2, 28), True),  # 31 August less 6 months is 28 February
        (dt.date(2025, 2, 27), False),
    ],
)
def test_months_before_a_month_end_day_end_on_the_shorter_months_last_day(
    seed_protocol: Protocol, eligible: dict[str, Any], serology: dt.date, met: bool
) -> None:
    row = {
        **eligible,
        "screening_date": MONTH_END,
        "serology_date": serology,
        "normal_cavity_hysteroscopy_date": dt.date(2025, 5, 31),  # exactly 3 months
    }
    run = screen_table(seed_protocol, pa.Table.from_pylist([row]), today=MONTH_END)
    (result,) = run.rows()
    assert result["decision"] == ("eligible" if met else "ineligible")
    assert result["failed_criteria"] == ([] if met else ["I6"])


def test_category_text_with_spaces_or_blank_reads_like_its_trimmed_text(
    seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    spellings = ["negative", " negative ", "Negative\u3000", "   ", None, " unknown  "]
    rows = [{**eligible, "candidate_id": f"C{i}", "hbsag": s} for i, s in enumerate(spellings)]
    run = screen_table(seed_protocol, pa.Table.from_pylist(rows), today=today)
    results = run.rows()
    assert [r["decision"] for r in results] == ["eligible"] * 3 + ["incomplete"] * 3
    assert [r["errors"] for r in results[:5]] == [[]] * 5
    assert [r["missing_items"] for r in results[3:5]] == [["hbsag"]] * 2
    (message,) = results[5]["errors"]
    assert message == (
        "row 6, column hbsag: 'unknown' is not one of negative, positive; correct the value"
    )


def test_concurrent_screenings_keep_their_own_rows(
    seed_protocol: Protocol, eligible: dict[str, Any], today: dt.date
) -> None:
    tables = [
        pa.Table.from_pylist(
            [{**eligible, "candidate_id": f"T{n}-{i}", "age_years": 20 + n} for i in range(50)]
        )
        for n in range(8)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda t: screen_table(seed_protocol, t, today=today), tables))
    for n, run in enumerate(runs):
        ids = run.results.column("candidate_id").to_pylist()
        assert ids == [f"T{n}-{i}" for i in range(50)]
        assert run.counts["eligible"] == 50
