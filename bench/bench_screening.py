"""Benchmark: screening a million candidates against the seed protocol.

Measures, in one run and on the same Parquet file:
  1. the engine (`screen_file`): decision plus failed/unknown/missing lists, materialised as Arrow;
  2. a plain row-by-row pandas implementation of the same criteria (`DataFrame.apply` over rows),
     timed on a sample and extrapolated, since a full run would take minutes;
  3. DuckDB merely scanning the same columns into Arrow: the ceiling for any SQL engine here.

Run:  .venv/bin/python bench/bench_screening.py [--candidates 1000000] [--sample 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from endotrial.eligibility import screen_file
from endotrial.protocol import load_protocol

SCREENING_DAY = dt.date(2025, 6, 2)
TODAY = dt.date(2025, 6, 30)
ROW_GROUP_ROWS = 131_072  # several row groups, so DuckDB can read the file on both cores
EXCLUSION_FLAGS = (
    "current_uterine_abnormality",
    "hydrosalpinx",
    "unexplained_bleeding",
    "active_pid",
    "tract_malformation",
    "abnormal_tct_1y",
    "severe_hepatic_renal",
    "cardiac_disease",
    "hypertension",
    "thromboembolism_history",
    "hematologic_disorder",
    "systemic_disease",
    "recurrent_miscarriage",
    "couple_chromosomal_abnormality",
    "couple_genetic_disorder",
    "couple_teratogen_exposure",
    "investigator_excludes",
    "cannot_comply",
)


def _with_missing(values: np.ndarray, rng: np.random.Generator, share: float) -> pa.Array:
    """An Arrow column with `share` of its values blanked (a chart not yet complete)."""
    return pa.array(values, mask=rng.random(len(values)) < share)


def _days_before(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    offsets = rng.integers(low, high, n).astype("timedelta64[D]")
    return np.datetime64(SCREENING_DAY.isoformat()) - offsets


def make_candidates(n: int, seed: int = 7) -> pa.Table:
    """`n` synthetic candidates: most ineligible, some incomplete, a few eligible (vectorised)."""
    rng = np.random.default_rng(seed)
    screening = np.full(n, np.datetime64(SCREENING_DAY.isoformat()), dtype="datetime64[D]")
    gives_birth_date = rng.random(n) < 0.3
    age = rng.integers(18, 45, n)
    birth = screening - (age * 365.25 + rng.integers(0, 300, n)).astype("timedelta64[D]")
    gives_weight = rng.random(n) < 0.4
    height = rng.normal(160, 6, n).round(1)
    bmi = rng.normal(22.5, 3, n).round(1)
    columns: dict[str, pa.Array] = {
        "candidate_id": pa.array(np.char.add("C", np.arange(n).astype(str))),
        "screening_date": pa.array(screening),
        "sex": pa.array(np.where(rng.random(n) < 0.995, "F", "M")),
        "birth_date": pa.array(birth, mask=~gives_birth_date),
        "age_years": pa.array(age, mask=gives_birth_date | (rng.random(n) < 0.02)),
        "weight_kg": pa.array((bmi * (height / 100) ** 2).round(1), mask=~gives_weight),
        "height_cm": pa.array(height, mask=~gives_weight),
        "bmi_kg_m2": pa.array(bmi, mask=gives_weight),
        "cycle_length_days": _with_missing(rng.integers(24, 38, n).astype(float), rng, 0.03),
        "regular_cycle_months": _with_missing(rng.integers(3, 60, n), rng, 0.03),
        "afc": _with_missing(rng.integers(3, 20, n), rng, 0.05),
        "fsh_iu_l": _with_missing(rng.normal(6.5, 2.2, n).round(1), rng, 0.05),
        "sex_hormones_normal": _with_missing(rng.random(n) < 0.93, rng, 0.05),
        "serology_date": _with_missing(_days_before(rng, n, 0, 240), rng, 0.05),
        "good_blastocysts": _with_missing(rng.integers(0, 6, n), rng, 0.03),
        "severe_iua_electroresection": _with_missing(rng.random(n) < 0.85, rng, 0.02),
        "normal_cavity_hysteroscopy_date": _with_missing(_days_before(rng, n, 0, 120), rng, 0.05),
        "cancelled_fet_thin_endometrium": _with_missing(rng.random(n) < 0.9, rng, 0.02),
        "consecutive_failed_transfers": _with_missing(rng.integers(0, 5, n), rng, 0.03),
        "failed_good_embryos": _with_missing(rng.integers(0, 9, n), rng, 0.03),
        "platelets_1e9_l": _with_missing(rng.normal(230, 60, n).round(0), rng, 0.03),
        "hemoglobin_g_l": _with_missing(rng.normal(128, 14, n).round(0), rng, 0.03),
        "last_other_trial_date": pa.array(_days_before(rng, n, 0, 720), mask=rng.random(n) < 0.95),
        "iodine_allergy": _with_missing(rng.random(n) < 0.03, rng, 0.02),
    }
    for test in ("hiv_ab", "tpa", "hbsag", "hcv_ab"):
        columns[test] = _with_missing(
            np.where(rng.random(n) < 0.99, "negative", "positive"), rng, 0.02
        )
    for flag in EXCLUSION_FLAGS:
        columns[flag] = _with_missing(rng.random(n) < 0.01, rng, 0.01)
    return pa.table(columns)


# --- the same criteria, row by row, as a pandas user would write them -------------------------


def _all(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _any(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _value(row: pd.Series, name: str) -> Any:
    value = row[name]
    return None if value is None or pd.isna(value) else value


def _between(value: Any, low: float, high: float) -> bool | None:
    return None if value is None else bool(low <= value <= high)


def _at_least(value: Any, low: float) -> bool | None:
    return None if value is None else bool(value >= low)


def _is(value: Any, wanted: Any) -> bool | None:
    return None if value is None else bool(value == wanted)


def _months_before(day: dt.date, months: int) -> dt.date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def _age(row: pd.Series, screening: dt.date | None) -> Any:
    age = _value(row, "age_years")
    birth = _value(row, "birth_date")
    if age is None and birth is not None and screening is not None:
        birth = pd.Timestamp(birth).date()
        before_birthday = (screening.month, screening.day) < (birth.month, birth.day)
        age = screening.year - birth.year - int(before_birthday)
    return age


def _bmi(row: pd.Series) -> Any:
    bmi = _value(row, "bmi_kg_m2")
    weight, height = _value(row, "weight_kg"), _value(row, "height_cm")
    if bmi is None and weight is not None and height is not None:
        bmi = round(weight / (height / 100) ** 2, 1)
    return bmi


def _within(row: pd.Series, name: str, screening: dt.date | None, months: int) -> bool | None:
    day = _value(row, name)
    if day is None or screening is None:
        return None
    return bool(pd.Timestamp(day).date() >= _months_before(screening, months))


def pandas_row(row: pd.Series) -> tuple[str, list[str], list[str]]:
    screening_value = _value(row, "screening_date")
    screening = pd.Timestamp(screening_value).date() if screening_value is not None else None
    v = lambda name: _value(row, name)  # noqa: E731
    inclusions: dict[str, bool | None] = {
        "I2": _between(_age(row, screening), 20, 38),
        "I3": _between(_bmi(row), 18, 27),
        "I4": _all(
            [_between(v("cycle_length_days"), 27, 35), _at_least(v("regular_cycle_months"), 6)]
        ),
        "I5": _all(
            [_at_least(v("afc"), 6), _between(v("fsh_iu_l"), 1, 10), v("sex_hormones_normal")]
        ),
        "I6": _all(
            [_within(row, "serology_date", screening, 6)]
            + [_is(v(t), "negative") for t in ("hiv_ab", "tpa", "hbsag", "hcv_ab")]
        ),
        "I7": _at_least(v("good_blastocysts"), 2),
        "I8": _all(
            [
                v("severe_iua_electroresection"),
                _within(row, "normal_cavity_hysteroscopy_date", screening, 3),
            ]
        ),
        "I9": v("cancelled_fet_thin_endometrium"),
        "SEX": _is(v("sex"), "F"),
    }
    platelets, hemoglobin = v("platelets_1e9_l"), v("hemoglobin_g_l")
    trial = v("last_other_trial_date")
    exclusions: dict[str, bool | None] = {
        "E2": _any([v("current_uterine_abnormality"), v("hydrosalpinx")]),
        "E3": _all(
            [
                _at_least(v("consecutive_failed_transfers"), 3),
                _at_least(v("failed_good_embryos"), 6),
            ]
        ),
        "E4": v("unexplained_bleeding"),
        "E5": v("active_pid"),
        "E6": v("tract_malformation"),
        "E7": v("abnormal_tct_1y"),
        "E8": _any([v("severe_hepatic_renal"), v("cardiac_disease"), v("hypertension")]),
        "E9": v("thromboembolism_history"),
        "E10": _any(
            [
                None if platelets is None else platelets < 100,
                None if hemoglobin is None else hemoglobin < 100,
                v("hematologic_disorder"),
            ]
        ),
        "E11": v("systemic_disease"),
        "E12": v("recurrent_miscarriage"),
        "E13": v("couple_chromosomal_abnormality"),
        "E14": v("couple_genetic_disorder"),
        "E15": v("couple_teratogen_exposure"),
        "E16": False if trial is None else _within(row, "last_other_trial_date", screening, 3),
        "E17": v("investigator_excludes"),
        "E18": v("cannot_comply"),
    }
    failed = [k for k, met in inclusions.items() if met is False]
    failed += [k for k, met in exclusions.items() if met is True]
    if failed:
        return "ineligible", failed, []
    unknown = [k for k, met in (inclusions | exclusions).items() if met is None]
    return ("incomplete" if unknown else "eligible"), [], unknown


def _timed(label: str, count: int, work: Any) -> float:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:8.3f} s  {count / seconds:>14,.0f} candidates/s")
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=50_000, help="rows for the pandas loop")
    parser.add_argument("--repeat", type=int, default=5, help="best of N for the engine and scan")
    args = parser.parse_args()
    protocol = load_protocol("nct07176143")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candidates.parquet"
        table = make_candidates(args.candidates)
        pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)
        columns = ", ".join(f'"{c}"' for c in table.column_names)
        run = screen_file(protocol, path, today=TODAY)
        print(f"{args.candidates:,} synthetic candidates: {dict(run.counts)}")
        engine = max(
            _timed(
                "engine (screen_file → Arrow, full results)",
                args.candidates,
                lambda: screen_file(protocol, path, today=TODAY),
            )
            for _ in range(args.repeat)
        )
        scan = max(
            _timed(
                "DuckDB scan of the same columns → Arrow",
                args.candidates,
                lambda: duckdb.sql(
                    f"SELECT {columns} FROM read_parquet('{path}')"
                ).to_arrow_table(),
            )
            for _ in range(args.repeat)
        )
        sample = pq.read_table(path).slice(0, args.sample).to_pandas()
        pandas = _timed(
            f"pandas row by row ({args.sample:,}-row sample)",
            args.sample,
            lambda: sample.apply(pandas_row, axis=1),
        )
    print(
        f"\nengine / scan   = {engine / scan:.2f} "
        f"(the engine takes {scan / engine:.2f}× the scan's time)"
    )
    print(f"engine / pandas = {engine / pandas:.0f}× faster")
    print(
        f"pandas extrapolated to {args.candidates:,} rows: {args.candidates / pandas:,.0f} s "
        f"(measured on a {args.sample:,}-row sample)"
    )


if __name__ == "__main__":
    main()
