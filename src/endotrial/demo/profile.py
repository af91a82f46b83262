"""The numbers a synthetic run draws from, for any protocol: cited for the seed trial, made up
(and said to be) for every other.

A `Profile` holds what the run cannot read from the protocol file: how thick the endometrium is
at baseline and how much each arm gains by each scheduled scan, how often a transfer ends in a
clinical pregnancy, which adverse events follow a procedure or a drug regimen, who the
candidates are. For the seed trial these come from `endotrial.demo.effects`, where each value
cites its source or says it is assumed. For any other protocol nothing is cited: the profile
is built from the protocol's own structure (its arms, procedures, dose rules, scans and data
items' ranges) with modest, plausible values, and the run's output says they are synthetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from endotrial.dosing.engine import procedure_dose_rule
from endotrial.errors import EndotrialError
from endotrial.protocol.models import Protocol
from endotrial.schedule.engine import build_schedule

#: (term, CTCAE grade, serious, probability, related to: procedure | cells | hrt).
AdverseEventRate = tuple[str, int, bool, float, str]
Population = Callable[[Protocol, np.random.Generator, int], list["Candidate"]]


@dataclass(frozen=True)
class Candidate:
    """A synthetic candidate: her screening items, and whether she would choose the arm that
    gives cells when the trial lets her choose (a non-randomized design)."""

    ref: str
    items: dict[str, object]
    prefers_cells: bool


@dataclass(frozen=True)
class ScanEffect:
    """A scheduled scan's thickness: her baseline + this arm's gain + N(0, noise)."""

    gain_mm: Mapping[str, float]
    noise_sd_mm: float


@dataclass(frozen=True)
class Profile:
    """What the run draws from; `cited` says whether the values come with sources."""

    cited: bool
    provenance: str
    """One line for the run's output: where the effect sizes come from."""
    population: Population
    site_code: str
    site_name: str
    baseline_thickness_mm: tuple[float, float]
    """Mean and SD of her baseline thickness (mm)."""
    scan_effects: Mapping[str, ScanEffect]
    """Scan event id → its effect; a scan not listed records her baseline as it is."""
    p_clinical_pregnancy: Mapping[str, float]
    procedure_aes: tuple[AdverseEventRate, ...]
    regimen_aes: tuple[AdverseEventRate, ...]
    allocation_basis: Mapping[str, str]
    """Arm → the basis recorded at a non-randomized allocation."""
    procedure_word: str = "procedures"
    """What the summary calls the procedures done ('infusions' for the seed)."""
    release_results: Mapping[str, float | str] | None = None
    """Release results recorded with each dose (None: passing values made from the rule)."""
    measure_change_fraction: Mapping[str, float] = field(default_factory=dict)
    """Arm → her change between a measure's baseline and its event, as a fraction of the
    item's declared range (change-from-baseline outcome measures)."""


#: Synthetic thickness: thin endometrium, as in the trials this program runs.
SYNTHETIC_BASELINE_MM = (5.0, 0.7)
#: Synthetic gains by a later scan (mm): an arm given cells, any other arm.
SYNTHETIC_GAIN_CELLS_MM = 1.2
SYNTHETIC_GAIN_OTHER_MM = 0.4
SYNTHETIC_NOISE_MM = 0.6
SYNTHETIC_P_PREGNANCY_CELLS = 0.30
SYNTHETIC_P_PREGNANCY_OTHER = 0.20
#: A modest synthetic change between baseline and follow-up, as a fraction of the range.
SYNTHETIC_CHANGE_CELLS = 0.08
SYNTHETIC_CHANGE_OTHER = 0.02
SYNTHETIC_PROCEDURE_P = 0.05
SYNTHETIC_REGIMEN_P = 0.04
#: Used when the protocol lists no expected adverse event of that kind.
GENERIC_PROCEDURE_AES: tuple[AdverseEventRate, ...] = (
    ("Pelvic pain", 1, False, SYNTHETIC_PROCEDURE_P, "procedure"),
    ("Fever", 1, False, SYNTHETIC_PROCEDURE_P / 2, "cells"),
)
GENERIC_REGIMEN_AES: tuple[AdverseEventRate, ...] = (
    ("Nausea", 1, False, SYNTHETIC_REGIMEN_P, "hrt"),
    ("Headache", 1, False, SYNTHETIC_REGIMEN_P, "hrt"),
)
#: An arbitrary day to date a protocol's schedule on, to learn the order of its events.
_ANY_DAY = dt.date(2026, 1, 5)


def arms_with_cells(protocol: Protocol) -> list[str]:
    """The arms that give cells in one of their procedures (their dose rule is not none)."""
    return [
        arm.id
        for arm in protocol.arms
        if any(procedure_dose_rule(protocol, arm.id, p) is not None for p in arm.procedures)
    ]


def synthetic_profile(protocol: Protocol, population: Population) -> Profile:
    """Made-up, plausible values for a protocol that has no cited ones."""
    cells = set(arms_with_cells(protocol))

    def by_arm(with_cells: float, other: float) -> dict[str, float]:
        return {arm.id: with_cells if arm.id in cells else other for arm in protocol.arms}

    gains = by_arm(SYNTHETIC_GAIN_CELLS_MM, SYNTHETIC_GAIN_OTHER_MM)
    return Profile(
        cited=False,
        provenance=(
            "effect sizes SYNTHETIC: made up inside each item's declared range, not taken from "
            "any study; they are not evidence of an effect"
        ),
        population=population,
        site_code="S01",
        site_name=f"{protocol.identity.sponsor} (synthetic site)",
        baseline_thickness_mm=SYNTHETIC_BASELINE_MM,
        scan_effects={
            event: ScanEffect(gains, SYNTHETIC_NOISE_MM) for event in _scans_after(protocol)
        },
        p_clinical_pregnancy=by_arm(SYNTHETIC_P_PREGNANCY_CELLS, SYNTHETIC_P_PREGNANCY_OTHER),
        procedure_aes=_expected(protocol, ("procedure", "cells"), SYNTHETIC_PROCEDURE_P)
        or GENERIC_PROCEDURE_AES,
        regimen_aes=_expected(protocol, ("hrt",), SYNTHETIC_REGIMEN_P) or GENERIC_REGIMEN_AES,
        allocation_basis={
            arm.id: f"participant preference after counselling (synthetic): {arm.label}"
            for arm in protocol.arms
        },
        measure_change_fraction=by_arm(SYNTHETIC_CHANGE_CELLS, SYNTHETIC_CHANGE_OTHER),
    )


def _expected(
    protocol: Protocol, kinds: tuple[str, ...], probability: float
) -> tuple[AdverseEventRate, ...]:
    """The protocol's expected adverse events of these kinds, each at a small synthetic rate."""
    return tuple(
        (event.ctcae_term, 1, False, probability, next(k for k in kinds if k in event.related_to))
        for event in protocol.expected_adverse_events
        if any(kind in event.related_to for kind in kinds)
    )


def _scans_after(protocol: Protocol) -> set[str]:
    """The scan events that measure a change: those after the arm's first procedure (in a
    protocol without procedures, every scan but the first). Earlier scans are baselines."""
    later: set[str] = set()
    for arm in protocol.arms:
        try:
            schedule = build_schedule(protocol, arm.id, schedule_roots(protocol, arm.id, _ANY_DAY))
        except EndotrialError:  # a schedule that cannot be dated has no scans to rank
            continue
        scans = [e for e in schedule if e.kind == "ultrasound"]
        procedure_days = [e.date for e in schedule if e.kind == "procedure"]
        if procedure_days:
            first = min(procedure_days)
            later |= {e.id for e in scans if e.date > first}
        else:
            later |= {e.id for e in scans[1:]}
    return later


def schedule_roots(protocol: Protocol, arm_id: str, day: dt.date) -> dict[str, dt.date]:
    """The events of the arm's schedule that hang from nothing (dates the site gives), each
    dated `day`: what `build_schedule` needs to date the rest."""
    return {
        e.id: day
        for e in protocol.schedule
        if e.anchor is None and e.cycle is None and (e.arms is None or arm_id in e.arms)
    }
