"""Analysis-dataset frames made in the tests (the analysis never reads the store)."""

import numpy as np
import pandas as pd
import pytest


def make_participants(n_per_arm: int = 30, seed: int = 11) -> pd.DataFrame:
    """A synthetic participants table satisfying the contract, with confounded allocation."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    age = rng.normal(32, 4, n)
    thickness = rng.normal(5.5, 0.8, n)
    # Older women with thinner endometrium more often chose the stem-cell arm.
    propensity = 1 / (1 + np.exp(-(0.25 * (age - 32) - 0.9 * (thickness - 5.5))))
    order = np.argsort(-propensity + rng.normal(0, 0.3, n))
    hbmsc = np.zeros(n, dtype=bool)
    hbmsc[order[:n_per_arm]] = True
    logit = -0.4 + 0.9 * hbmsc - 0.08 * (age - 32) + 0.7 * (thickness - 5.5)
    pregnant = rng.random(n) < 1 / (1 + np.exp(-logit))
    after = thickness + 0.6 + 1.0 * hbmsc + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "participant_id": [f"P{i:03d}" for i in range(n)],
            "site": "S01",
            "arm": np.where(hbmsc, "hbmsc", "control"),
            "enrolled_on": pd.to_datetime("2026-01-05") + pd.to_timedelta(np.arange(n), "D"),
            "allocated_on": pd.to_datetime("2026-01-06") + pd.to_timedelta(np.arange(n), "D"),
            "in_full_analysis_set": True,
            "in_per_protocol_set": True,
            "in_safety_set": True,
            "received_intervention": True,
            "age_years": age,
            "bmi_kg_m2": rng.normal(22, 2, n),
            "baseline_thickness_mm": thickness,
            "afs_score": pd.array(rng.integers(9, 13, n), dtype="Int64"),
            "transfer_on": pd.to_datetime("2026-03-01"),
            "transfer_cancelled": False,
            "embryos_transferred": pd.array(rng.integers(1, 3, n), dtype="Int64"),
            "thickness_mm": after,
            "gestational_sacs": pd.array(pregnant.astype(int), dtype="Int64"),
            "biochemical_pregnancy": False,
            "clinical_pregnancy": pregnant.astype(float),
            "ectopic_pregnancy": False,
            "miscarriage": False,
            "ongoing_pregnancy": pregnant.astype(float),
            "live_birth": np.nan,
            "withdrawn_on": pd.NaT,
            "withdrawal_reason": pd.Series([None] * n, dtype="string"),
            "lost_to_follow_up": False,
        }
    )


def make_embryos(participants: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in participants.itertuples():
        count = int(row.embryos_transferred)
        sacs = min(int(row.gestational_sacs), count)
        for number in range(1, count + 1):
            rows.append(
                {
                    "participant_id": row.participant_id,
                    "arm": row.arm,
                    "transfer_id": f"T-{row.participant_id}",
                    "embryo_number": number,
                    "embryo_day": 5,
                    "expansion": 4,
                    "icm": "A",
                    "te": "B",
                    "good_quality": True,
                    "implanted": number <= sacs,
                }
            )
    return pd.DataFrame(rows)


def make_adverse_events(participants: pd.DataFrame) -> pd.DataFrame:
    ids = participants["participant_id"].tolist()
    return pd.DataFrame(
        {
            "ae_id": ["AE1", "AE2", "AE3", "AE4"],
            "participant_id": [ids[0], ids[0], ids[1], ids[-1]],
            "arm": [participants["arm"].iloc[i] for i in (0, 0, 1, -1)],
            "term": ["Hematoma", "Fever", "Pelvic pain", "Hematoma"],
            "ctcae_grade": [2, 1, 3, 1],
            "serious": [False, False, True, False],
            "related_procedure": ["probable", "possible", "unlikely", "definite"],
            "related_cells": ["not_related", "possible", "not_related", "not_related"],
            "related_hrt": ["not_related"] * 4,
            "expected": [True, True, True, True],
            "onset_date": pd.to_datetime(["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]),
            "resolution_date": pd.to_datetime(["2026-02-10", None, "2026-02-09", None]),
            "outcome": ["recovered", None, "recovered", None],
        }
    )


def make_measurements(participants: pd.DataFrame) -> pd.DataFrame:
    before = participants.assign(
        measured_on=pd.to_datetime("2025-12-20"),
        value=participants["baseline_thickness_mm"],
        scheduled_event="screening_ultrasound",
        cycle=None,
        day_from_cycle_start=pd.NA,
    )
    after = participants.assign(
        measured_on=pd.to_datetime("2026-02-20"),
        value=participants["thickness_mm"],
        scheduled_event="fet_ultrasound",
        cycle="transfer",
        day_from_cycle_start=11,
    )
    both = pd.concat([before, after], ignore_index=True)
    return pd.DataFrame(
        {
            "participant_id": both["participant_id"],
            "arm": both["arm"],
            "measurement": "thickness_mm",
            "value": both["value"].astype(float),
            "unit": "mm",
            "measured_on": both["measured_on"],
            "scheduled_event": both["scheduled_event"],
            "cycle": both["cycle"],
            "day_from_cycle_start": pd.array(both["day_from_cycle_start"], dtype="Int64"),
        }
    )


@pytest.fixture
def participants() -> pd.DataFrame:
    return make_participants()


@pytest.fixture
def analysis_frames(participants: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        "participants": participants,
        "embryos": make_embryos(participants),
        "adverse_events": make_adverse_events(participants),
        "measurements": make_measurements(participants),
    }
