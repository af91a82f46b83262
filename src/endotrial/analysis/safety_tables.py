"""Safety tables: adverse events by arm, term, grade, seriousness and relatedness.

Counts are over the safety set, grouped by treatment received (`arm_received` when the
participants table has it, else `arm`). Each cell gives participants with at least one event
of that row, n (% of the arm's safety set), and the number of events, as ICH E3 §12.2 asks;
a participant is counted once per row however many events she had. Events of participants
outside the safety set are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from endotrial.analysis.dataset import RELATEDNESS
from endotrial.analysis.proportions import rate
from endotrial.errors import InputError

#: Relatedness levels counted as "related" (possibly, probably or definitely).
RELATED = ("possible", "probable", "definite")
CAUSES = {"related_procedure": "procedure", "related_cells": "cells", "related_hrt": "HRT"}


def safety_population(participants: pd.DataFrame) -> pd.DataFrame:
    """The safety set with one `group` column: the treatment received."""
    if "in_safety_set" not in participants.columns:
        raise InputError("the participants table has no in_safety_set column")
    grouping = "arm_received" if "arm_received" in participants.columns else "arm"
    safety = participants[participants["in_safety_set"].fillna(False).astype(bool)]
    return safety.assign(group=safety[grouping].astype("string"))[["participant_id", "group"]]


def _events(participants: pd.DataFrame, adverse_events: pd.DataFrame) -> pd.DataFrame:
    """Events of the safety set, each with its participant's group."""
    population = safety_population(participants)
    events = adverse_events.drop(columns=["arm"], errors="ignore").merge(
        population, on="participant_id", how="inner"
    )
    related = [events[c].astype(str).isin(RELATED) for c in CAUSES if c in events.columns]
    events["related_any"] = pd.concat(related, axis=1).any(axis=1) if related else False
    events["grade_3_or_more"] = events["ctcae_grade"].astype(int) >= 3
    return events


def _arms(participants: pd.DataFrame, arms: Sequence[str] | None) -> list[str]:
    groups = safety_population(participants)["group"].dropna().unique().tolist()
    return list(arms) if arms is not None else sorted(str(g) for g in groups)


def overview(
    participants: pd.DataFrame, adverse_events: pd.DataFrame, arms: Sequence[str] | None = None
) -> pd.DataFrame:
    """Participants with at least one event of each kind, per arm, with a Clopper-Pearson
    95 % interval for the proportion, and the number of events."""
    events = _events(participants, adverse_events)
    population = safety_population(participants)
    kinds = {
        "any adverse event": events,
        "serious adverse event": events[events["serious"].astype(bool)],
        "CTCAE grade 3 or more": events[events["grade_3_or_more"]],
        "related to any study treatment": events[events["related_any"]],
        "fatal (grade 5)": events[events["ctcae_grade"].astype(int) == 5],
    }
    rows = []
    for kind, subset in kinds.items():
        row: dict[str, object] = {"women with at least one": kind}
        for arm in _arms(participants, arms):
            size = int((population["group"] == arm).sum())
            of_arm = subset[subset["group"] == arm]
            count = int(of_arm["participant_id"].nunique())
            row[f"{arm}: participants"] = _n_percent(count, size)
            row[f"{arm}: 95% CI"] = _interval(count, size)
            row[f"{arm}: events"] = len(of_arm)
        rows.append(row)
    return pd.DataFrame(rows)


def by_category(
    participants: pd.DataFrame,
    adverse_events: pd.DataFrame,
    column: str,
    *,
    arms: Sequence[str] | None = None,
    order: Sequence[object] | None = None,
) -> pd.DataFrame:
    """One row per value of `column` (term, ctcae_grade, serious, a relatedness column):
    participants n (%) and events per arm, most frequent first unless `order` is given."""
    events = _events(participants, adverse_events)
    if column not in events.columns:
        raise InputError(f"the adverse_events table has no column {column}")
    population = safety_population(participants)
    arm_list = _arms(participants, arms)
    values = list(order) if order is not None else _by_frequency(events[column])
    rows = []
    for value in values:
        of_value = events[events[column] == value]
        row: dict[str, object] = {column: value}
        for arm in arm_list:
            size = int((population["group"] == arm).sum())
            of_arm = of_value[of_value["group"] == arm]
            row[f"{arm}: participants"] = _n_percent(int(of_arm["participant_id"].nunique()), size)
            row[f"{arm}: events"] = len(of_arm)
        row["total events"] = len(of_value)
        rows.append(row)
    return pd.DataFrame(rows, columns=[column, *_cell_columns(arm_list), "total events"])


def by_worst_grade(
    participants: pd.DataFrame, adverse_events: pd.DataFrame, arms: Sequence[str] | None = None
) -> pd.DataFrame:
    """Participants by the worst CTCAE grade of any of their events (none, 1-5), per arm:
    each woman of the safety set in exactly one row."""
    events = _events(participants, adverse_events)
    worst = events.groupby(["participant_id", "group"])["ctcae_grade"].max().reset_index()
    population = safety_population(participants)
    arm_list = _arms(participants, arms)
    rows: list[dict[str, object]] = [{"worst CTCAE grade": "no adverse event"}]
    for arm in arm_list:
        size = int((population["group"] == arm).sum())
        with_event = int((worst["group"] == arm).sum())
        rows[0][f"{arm}: participants"] = _n_percent(size - with_event, size)
    for grade in range(1, 6):
        row: dict[str, object] = {"worst CTCAE grade": str(grade)}
        for arm in arm_list:
            size = int((population["group"] == arm).sum())
            count = int(((worst["group"] == arm) & (worst["ctcae_grade"] == grade)).sum())
            row[f"{arm}: participants"] = _n_percent(count, size)
        rows.append(row)
    return pd.DataFrame(rows)


def by_relatedness(
    participants: pd.DataFrame, adverse_events: pd.DataFrame, arms: Sequence[str] | None = None
) -> pd.DataFrame:
    """Events by the investigator's causality to each study treatment, per arm."""
    tables = []
    for column, cause in CAUSES.items():
        table = by_category(participants, adverse_events, column, arms=arms, order=RELATEDNESS)
        tables.append(table.rename(columns={column: "relatedness"}).assign(to=cause))
    combined = pd.concat(tables, ignore_index=True)
    return combined[["to", *[c for c in combined.columns if c != "to"]]]


def safety_tables(
    participants: pd.DataFrame, adverse_events: pd.DataFrame, arms: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Every safety table of the report, by title."""
    return {
        "Participants with at least one adverse event": overview(
            participants, adverse_events, arms
        ),
        "Adverse events by term (CTCAE v5)": by_category(
            participants, adverse_events, "term", arms=arms
        ),
        "Participants by worst CTCAE grade": by_worst_grade(participants, adverse_events, arms),
        "Adverse events by seriousness": by_category(
            participants, adverse_events, "serious", arms=arms, order=[True, False]
        ),
        "Adverse events by relatedness": by_relatedness(participants, adverse_events, arms),
    }


def _cell_columns(arms: Sequence[str]) -> list[str]:
    return [f"{arm}: {what}" for arm in arms for what in ("participants", "events")]


def _by_frequency(values: pd.Series) -> list[object]:
    counts = values.value_counts()
    ordered = sorted(counts.index, key=lambda v: (-int(counts[v]), str(v)))
    return list(ordered)


def _n_percent(count: int, size: int) -> str:
    return f"{count} ({100 * count / size:.1f}%)" if size else f"{count} (–)"


def _interval(count: int, size: int) -> str:
    if not size:
        return "–"
    exact = rate(count, size, method="clopper-pearson")
    return f"{100 * (exact.low or 0):.1f} to {100 * (exact.high or 0):.1f}%"
