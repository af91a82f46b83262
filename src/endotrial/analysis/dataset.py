"""The analysis dataset contract: four tables, their column dictionary, and a validator.

The analysis reads data frames, never the store. Whatever builds them (the build from the
store, an import from another system, a test) must hand over these four tables:

- `participants`: one row per enrolled participant (allocation, analysis sets, baseline
  covariates, exposure, every derived outcome);
- `embryos`: one row per embryo transferred;
- `adverse_events`: one row per adverse event;
- `measurements`: one row per measurement, with the scheduled event it belongs to.

Each column has a kind (how it is stored in pandas), a unit (empty when it has none), whether
it must be present, whether it may be missing per row, and a description precise enough to
build it from. `validate_frames` checks a set of frames against the contract and reports every
problem at once, naming table, column and (for values) the first offending rows.

Baseline covariates: the fixed columns below are those every endometrium trial of the engine
records. A protocol may add its own: any further column of `participants` whose name is a data
item of the protocol is a covariate, typed by the item (number → float, integer → integer,
boolean → boolean, category → string, date → date), named exactly as the item.

Outcome measures: each of the protocol's `outcome_measures` adds a column of `participants`
named by its id (`measure_<id>` when a fixed column or an item already has that name:
`analysis.measures.measure_column`), missing until every value it needs is recorded: a change
from baseline is a float, a threshold met a boolean, a value typed as its item. The number
values measured for them are rows of `measurements` (`measurement` is the item's name,
`scheduled_event` the measure's event). `analysis.measures` summarises them by arm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pandas.api import types as ptypes

from endotrial.errors import InputError

Kind = Literal["string", "integer", "float", "boolean", "date"]

RELATEDNESS = ("not_related", "unlikely", "possible", "probable", "definite")
GARDNER_GRADES = ("A", "B", "C")


@dataclass(frozen=True)
class Column:
    """One column of an analysis table."""

    name: str
    kind: Kind
    description: str
    unit: str = ""
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Table:
    """One analysis table: what a row is, its key, and its columns."""

    name: str
    one_row_per: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _outcome(name: str, definition: str) -> Column:
    return Column(
        name,
        "boolean",
        f"{definition} True/False (or 1/0); missing when not yet known or not reached "
        "(e.g. no transfer, lost to follow-up): the analysis decides how missing counts.",
        nullable=True,
    )


PARTICIPANTS = Table(
    name="participants",
    one_row_per="enrolled participant (signed consent and a study id)",
    key=("participant_id",),
    columns=(
        Column("participant_id", "string", "Study id (never a name or hospital number)."),
        Column("site", "string", "Code of the site that enrolled her."),
        Column(
            "arm",
            "string",
            "Protocol arm id she was allocated to (e.g. 'control', 'hbmsc'); missing if "
            "enrolled but never allocated.",
            nullable=True,
        ),
        Column(
            "arm_received",
            "string",
            "Arm by treatment received (the safety set's grouping): an arm with procedures "
            "only when one was attempted, else the arm without procedures.",
            required=False,
            nullable=True,
        ),
        Column("enrolled_on", "date", "Date of enrolment.", nullable=True),
        Column("allocated_on", "date", "Date of allocation to the arm.", nullable=True),
        Column(
            "in_full_analysis_set",
            "boolean",
            "In the full analysis set, by the protocol's rule (allocated and started the "
            "treatment cycle, in the seed protocol).",
        ),
        Column(
            "in_per_protocol_set",
            "boolean",
            "In the per-protocol set, by the protocol's rule (no major deviation, received "
            "the allocated treatment, had the transfer as planned).",
        ),
        Column(
            "in_safety_set",
            "boolean",
            "In the safety set: received any study treatment (HRT or the procedure); analysed "
            "by the treatment actually received.",
        ),
        Column(
            "received_intervention",
            "boolean",
            "Received her arm's intervention (the infusion in the stem-cell arm; HRT for the "
            "control arm).",
        ),
        *(
            Column(name, "boolean", description, required=False, nullable=nullable)
            for name, description, nullable in (
                ("allocated", "Allocated to an arm.", False),
                (
                    "started_treatment",
                    "Started the treatment cycle (a cycle or dose recorded).",
                    False,
                ),
                ("procedure_attempted", "A procedure of her arm was attempted.", False),
                ("transfer_done", "An embryo transfer was done (not cancelled).", False),
                ("major_deviation", "At least one major protocol deviation recorded.", False),
                ("withdrawn", "Withdrew from the trial.", False),
            )
        ),
        Column("age_years", "float", "Age at screening.", unit="years", required=False),
        Column(
            "bmi_kg_m2",
            "float",
            "Body-mass index at screening.",
            unit="kg/m²",
            required=False,
            nullable=True,
        ),
        Column(
            "baseline_thickness_mm",
            "float",
            "Maximal endometrial thickness before treatment (screening or the cancelled "
            "earlier cycle), mid-sagittal transvaginal ultrasound.",
            unit="mm",
            required=False,
            nullable=True,
        ),
        Column(
            "afs_score",
            "integer",
            "AFS 1988 intrauterine adhesion score at the qualifying hysteroscopy (1-12).",
            unit="points",
            required=False,
            nullable=True,
            minimum=0,
            maximum=12,
        ),
        Column(
            "previous_failed_transfers",
            "integer",
            "Embryo transfers that failed before the trial.",
            unit="transfers",
            required=False,
            nullable=True,
            minimum=0,
        ),
        Column(
            "dose_cells",
            "float",
            "Cells infused (stem-cell arm); missing for control or if not infused.",
            unit="cells",
            required=False,
            nullable=True,
            minimum=0,
        ),
        Column("transfer_on", "date", "Date of the embryo transfer.", nullable=True),
        Column(
            "transfer_cancelled",
            "boolean",
            "The planned transfer was cancelled (an intercurrent event); missing before it "
            "was due.",
            nullable=True,
        ),
        Column(
            "embryos_transferred",
            "integer",
            "Embryos transferred (0 when cancelled).",
            unit="embryos",
            nullable=True,
            minimum=0,
        ),
        Column(
            "thickness_mm",
            "float",
            "Maximal endometrial thickness in the transfer cycle before progesterone "
            "(secondary outcome).",
            unit="mm",
            nullable=True,
            minimum=0,
        ),
        Column(
            "gestational_sacs",
            "integer",
            "Gestational sacs on the clinical-pregnancy ultrasound.",
            unit="sacs",
            nullable=True,
            minimum=0,
        ),
        _outcome(
            "biochemical_pregnancy",
            "Positive serum β-hCG after transfer without a sac ever seen (ICMART).",
        ),
        _outcome(
            "clinical_pregnancy",
            "One or more gestational sacs on ultrasound at 6-8 weeks' gestation, ectopic "
            "included (ICMART); the primary outcome.",
        ),
        _outcome("ectopic_pregnancy", "A pregnancy outside the uterine cavity."),
        _outcome(
            "miscarriage",
            "Loss of an intrauterine pregnancy before 22 completed weeks (ICMART).",
        ),
        _outcome("ongoing_pregnancy", "Fetal heartbeat at 12 weeks' gestation."),
        _outcome(
            "live_birth",
            "Birth of at least one live baby after the protocol's viability threshold.",
        ),
        Column("withdrawn_on", "date", "Date of withdrawal, if any.", nullable=True),
        Column("withdrawal_reason", "string", "Reason given at withdrawal, if any.", nullable=True),
        Column(
            "lost_to_follow_up",
            "boolean",
            "Outcome follow-up could not be completed (withdrawn or unreachable).",
        ),
    ),
)

EMBRYOS = Table(
    name="embryos",
    one_row_per="embryo transferred",
    key=("transfer_id", "embryo_number"),
    columns=(
        Column("participant_id", "string", "Study id of the woman (participants key)."),
        Column("arm", "string", "Her arm, repeated for convenience.", nullable=True),
        Column("transfer_id", "string", "Id of the transfer the embryo was part of."),
        Column(
            "embryo_number",
            "integer",
            "1, 2, ... within the transfer.",
            minimum=1,
        ),
        Column(
            "embryo_day",
            "integer",
            "Day of development at vitrification.",
            unit="days",
            minimum=3,
            maximum=7,
        ),
        Column("expansion", "integer", "Gardner expansion grade 1-6.", minimum=1, maximum=6),
        Column("icm", "string", "Gardner inner cell mass grade.", allowed=GARDNER_GRADES),
        Column("te", "string", "Gardner trophectoderm grade.", allowed=GARDNER_GRADES),
        Column("good_quality", "boolean", "Good quality by the protocol's Gardner rule."),
        Column(
            "implanted",
            "boolean",
            "Implantation indicator for the implantation rate (gestational sacs ÷ embryos "
            "transferred, ICMART): in a transfer with s sacs (capped at the embryos "
            "transferred), embryos 1..s are True and the rest False, since a sac cannot be "
            "traced to its embryo; missing when the ultrasound is not known.",
            nullable=True,
        ),
    ),
)

ADVERSE_EVENTS = Table(
    name="adverse_events",
    one_row_per="adverse event",
    key=("ae_id",),
    columns=(
        Column("ae_id", "string", "Id of the adverse event record."),
        Column("participant_id", "string", "Study id of the woman (participants key)."),
        Column(
            "arm",
            "string",
            "Arm by treatment actually received (the safety set's grouping).",
            nullable=True,
        ),
        Column("term", "string", "CTCAE v5 term."),
        Column("ctcae_grade", "integer", "CTCAE grade 1-5.", minimum=1, maximum=5),
        Column("serious", "boolean", "Serious by the ICH E2A definition."),
        Column(
            "related_procedure",
            "string",
            "Investigator's causality to the uterine-artery procedure.",
            allowed=RELATEDNESS,
        ),
        Column("related_cells", "string", "Causality to the cell product.", allowed=RELATEDNESS),
        Column("related_hrt", "string", "Causality to hormone therapy.", allowed=RELATEDNESS),
        Column("expected", "boolean", "Listed as expected in the protocol."),
        Column("onset_date", "date", "Date of onset."),
        Column("resolution_date", "date", "Date resolved; missing if ongoing.", nullable=True),
        Column("outcome", "string", "Outcome as recorded (e.g. recovered).", nullable=True),
    ),
)

MEASUREMENTS = Table(
    name="measurements",
    one_row_per="measurement (one value of one quantity on one day)",
    key=("participant_id", "measurement", "measured_on", "scheduled_event"),
    columns=(
        Column("participant_id", "string", "Study id of the woman (participants key)."),
        Column("arm", "string", "Her arm, repeated for convenience.", nullable=True),
        Column(
            "measurement",
            "string",
            "What was measured, named with its unit as in the store (e.g. 'thickness_mm').",
        ),
        Column("value", "float", "The value, in `unit`."),
        Column("unit", "string", "Unit of `value` (e.g. 'mm')."),
        Column("measured_on", "date", "Date of the measurement."),
        Column(
            "scheduled_event",
            "string",
            "Id of the protocol schedule event this measurement belongs to (e.g. "
            "'fet_ultrasound'); missing for an unscheduled measurement.",
            nullable=True,
        ),
        Column("cycle", "string", "Protocol cycle id (e.g. 'transfer').", nullable=True),
        Column(
            "day_from_cycle_start",
            "integer",
            "Days from the start of that cycle (cycle day 1 = 0).",
            unit="days",
            nullable=True,
        ),
    ),
)

SCREENINGS = Table(
    name="screenings",
    one_row_per="person screened (her last screening: the decision that stands)",
    key=("screening_number",),
    columns=(
        Column("screening_number", "integer", "1, 2, ... in order of first screening.", minimum=1),
        Column("site", "string", "Code of the screening site.", nullable=True),
        Column("screened_on", "date", "Date of her last screening."),
        Column(
            "decision",
            "string",
            "Decision of her last screening.",
            allowed=("eligible", "ineligible", "incomplete"),
        ),
        Column("failed_criteria", "string", "Criteria not met, comma-separated (ineligible)."),
        Column("unknown_criteria", "string", "Criteria that could not be decided."),
        Column(
            "participant_id",
            "string",
            "Her study id when she was enrolled; missing otherwise.",
            nullable=True,
        ),
    ),
)
"""The screening log the participant flow (TREND) reads; not one of the four analysis tables,
since no analysis is computed on it, and checked with `validate_frames(..., tables=...)`."""

ANALYSIS_TABLES: dict[str, Table] = {
    table.name: table for table in (PARTICIPANTS, EMBRYOS, ADVERSE_EVENTS, MEASUREMENTS)
}


def column_dictionary() -> pd.DataFrame:
    """The column dictionary as a table (one row per column) for the report and the CSVs."""
    rows = [
        {
            "table": table.name,
            "column": column.name,
            "kind": column.kind,
            "unit": column.unit,
            "required": column.required,
            "may_be_missing": column.nullable,
            "allowed": ", ".join(column.allowed) if column.allowed else "",
            "description": column.description,
        }
        for table in (*ANALYSIS_TABLES.values(), SCREENINGS)
        for column in table.columns
    ]
    return pd.DataFrame(rows)


def validate_frames(
    frames: Mapping[str, pd.DataFrame], tables: Sequence[Table] | None = None
) -> None:
    """Check the frames against the contract (the four analysis tables, or the `tables`
    given); raise one InputError listing every problem."""
    expected = {t.name: t for t in tables} if tables is not None else ANALYSIS_TABLES
    problems: list[str] = []
    unknown = sorted(set(frames) - set(expected))
    if unknown:
        problems.append(f"unknown table(s) {', '.join(unknown)}; expected {', '.join(expected)}")
    for name, table in expected.items():
        if name not in frames:
            problems.append(f"table {name}: missing")
            continue
        problems += _table_problems(table, frames[name])
    if not problems and tables is None:
        problems += _reference_problems(frames)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise InputError(f"the analysis dataset does not match its contract:\n{listing}")


def _table_problems(table: Table, frame: pd.DataFrame) -> list[str]:
    problems: list[str] = []
    for column in table.columns:
        where = f"table {table.name}, column {column.name}"
        if column.name not in frame.columns:
            if column.required:
                problems.append(f"{where}: missing ({column.description})")
            continue
        problems += [f"{where}: {p}" for p in _column_problems(column, frame[column.name])]
    present_key = [k for k in table.key if k in frame.columns]
    if len(present_key) == len(table.key) and not frame.empty:
        duplicated = frame.duplicated(subset=list(table.key), keep=False)
        if duplicated.any():
            rows = _row_list(frame.index[duplicated])
            problems.append(
                f"table {table.name}: key ({', '.join(table.key)}) repeated in rows {rows}"
            )
    return problems


def _column_problems(column: Column, values: pd.Series) -> list[str]:
    missing = values.isna()
    if missing.any() and not column.nullable:
        return [f"missing in rows {_row_list(values.index[missing])}; every row needs a value"]
    present = values[~missing]
    kind_problem = _kind_problem(column.kind, values, present)
    if kind_problem:
        return [kind_problem]
    problems = []
    if column.allowed is not None:
        bad = ~present.astype(str).isin(column.allowed)
        if bad.any():
            problems.append(
                f"values {sorted(set(present[bad].astype(str)))[:5]} in rows "
                f"{_row_list(present.index[bad])} are not one of {', '.join(column.allowed)}"
            )
    numbers = pd.to_numeric(present, errors="coerce") if column.kind != "date" else None
    if numbers is not None and column.minimum is not None:
        low = numbers < column.minimum
        if low.any():
            problems.append(f"below {column.minimum:g} in rows {_row_list(present.index[low])}")
    if numbers is not None and column.maximum is not None:
        high = numbers > column.maximum
        if high.any():
            problems.append(f"above {column.maximum:g} in rows {_row_list(present.index[high])}")
    return problems


def _kind_problem(kind: Kind, values: pd.Series, present: pd.Series) -> str | None:
    dtype = values.dtype
    if kind == "string":
        ok = ptypes.is_string_dtype(dtype) or all(isinstance(v, str) for v in present)
        expected = "text"
    elif kind == "integer":
        ok = ptypes.is_integer_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
        if not ok and ptypes.is_float_dtype(dtype):
            ok = bool((present == present.round()).all())
        expected = "whole numbers (an integer dtype, e.g. Int64 when values may be missing)"
    elif kind == "float":
        ok = ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
        expected = "numbers"
    elif kind == "boolean":
        ok = ptypes.is_bool_dtype(dtype) or (
            ptypes.is_numeric_dtype(dtype) and bool(present.isin([0, 1]).all())
        )
        expected = "True/False (or 1/0)"
    else:
        ok = ptypes.is_datetime64_any_dtype(dtype) or all(isinstance(v, dt.date) for v in present)
        expected = "dates (datetime64 or datetime.date)"
    if ok:
        return None
    return f"holds {dtype} values, expected {expected}"


def _reference_problems(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    known = set(frames["participants"]["participant_id"].astype(str))
    problems = []
    for name in ("embryos", "adverse_events", "measurements"):
        ids = frames[name]["participant_id"].astype(str)
        orphan = ~ids.isin(known)
        if orphan.any():
            problems.append(
                f"table {name}, column participant_id: rows {_row_list(ids.index[orphan])} "
                f"name participants not in the participants table "
                f"({', '.join(sorted(set(ids[orphan]))[:5])})"
            )
    return problems


def _row_list(index: pd.Index, limit: int = 5) -> str:
    labels = [str(label) for label in index[:limit]]
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return ", ".join(labels) + more
