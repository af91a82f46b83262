"""The synthetic screening pool: realistic candidates and realistic reasons to exclude them.

Distributions (approximate, for a believable demo; not for inference):
- Women referred for severe IUA with thin endometrium are mostly in their early 30s (mean ~32,
  SD ~4 years in IUA/thin-endometrium FET series), so a few are over the trial's 38-year limit.
- BMI of Chinese IVF populations: mean ~21.8, SD ~2.0 kg/m²; heights ~160 ± 5 cm.
- Ovarian reserve: AFC ~ Poisson(13); FSH ~ N(6.5, 1.5) IU/L (a few above 10 exclude, inclusion 5).
- Exclusion prevalences (hydrosalpinx, recurrent implantation failure, hypertension, recurrent
  miscarriage, missing recent hysteroscopy, too few good blastocysts) are set so that about half
  the pool is eligible, as in screening logs of small single-centre IUA cell-therapy trials
  (e.g. Cao et al., Stem Cell Res Ther 2018;9:192: 26 treated of a larger screened group).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from endotrial.demo.profile import Candidate
from endotrial.protocol import Protocol

FIRST_SCREENING = dt.date(2025, 10, 8)
#: Screening runs from FIRST_SCREENING to the demo's fixed data cut-off (2026-11-20) inclusive,
#: so with the fixed cut-off every candidate of the pool is screened.
SCREENING_SPAN_DAYS = 409

#: (reason, probability, item changes) applied independently to each candidate.
EXCLUSION_REASONS: tuple[tuple[str, float, dict[str, object]], ...] = (
    ("too few good blastocysts (I7)", 0.05, {"good_blastocysts": 1}),
    ("no normal-cavity hysteroscopy within 3 months (I8)", 0.04, {"_old_hysteroscopy": True}),
    ("hydrosalpinx (E2)", 0.03, {"hydrosalpinx": True}),
    (
        "recurrent implantation failure (E3)",
        0.03,
        {"consecutive_failed_transfers": 4, "failed_good_embryos": 7},
    ),
    ("hypertension (E8)", 0.02, {"hypertension": True}),
    ("recurrent miscarriage (E12)", 0.03, {"recurrent_miscarriage": True}),
    ("abnormal cervical cytology (E7)", 0.02, {"abnormal_tct_1y": True}),
    ("anaemia (E10)", 0.015, {"hemoglobin_g_l": 92.0}),
    ("in another trial within 3 months (E16)", 0.02, {"_recent_trial": True}),
    ("cannot comply with visits (E18)", 0.03, {"cannot_comply": True}),
)
#: A candidate whose serology is not back yet stays 'incomplete' (three-valued screening).
P_SEROLOGY_PENDING = 0.04
#: Iodinated-contrast allergy: ~1-3% of adults report one; it closes the stem-cell arm only.
P_IODINE_ALLERGY = 0.03


def candidate_pool(_protocol: Protocol, rng: np.random.Generator, size: int) -> list[Candidate]:
    """`size` candidates of the seed trial, screened in date order over about 14 months."""
    offsets = np.sort(rng.integers(0, SCREENING_SPAN_DAYS, size))
    return [
        _candidate(rng, f"SCR-{i + 1:04d}", FIRST_SCREENING + dt.timedelta(days=int(offset)))
        for i, offset in enumerate(offsets)
    ]


def _candidate(rng: np.random.Generator, ref: str, on: dt.date) -> Candidate:
    items = _baseline(rng, on)
    for _reason, probability, changes in EXCLUSION_REASONS:
        if rng.random() < probability:
            _apply(items, changes, on)
    if rng.random() < P_SEROLOGY_PENDING:
        for name in ("serology_date", "hiv_ab", "tpa", "hbsag", "hcv_ab"):
            items[name] = None
    # About half prefer the stem-cell arm when both are open (non-randomized, by preference).
    return Candidate(ref, items, prefers_cells=bool(rng.random() < 0.55))


def _baseline(rng: np.random.Generator, on: dt.date) -> dict[str, object]:
    height_cm = round(float(rng.normal(160, 5)), 1)
    bmi_kg_m2 = float(np.clip(rng.normal(21.8, 2.0), 16.5, 30))
    weight_kg = round(bmi_kg_m2 * (height_cm / 100) ** 2, 1)
    return {
        "screening_date": on,
        "sex": "F",
        "age_years": int(np.clip(round(rng.normal(32, 3.5)), 22, 44)),
        "weight_kg": weight_kg,
        "height_cm": height_cm,
        "cycle_length_days": int(rng.integers(27, 36)) if rng.random() > 0.04 else 40,
        "regular_cycle_months": int(rng.integers(6, 120)),
        "afc": int(rng.poisson(13)),
        "fsh_iu_l": round(float(np.clip(rng.normal(6.5, 1.5), 1.5, 16)), 1),
        "sex_hormones_normal": bool(rng.random() < 0.985),
        "serology_date": on - dt.timedelta(days=int(rng.integers(5, 150))),
        "hiv_ab": "negative",
        "tpa": "negative",
        "hbsag": "negative" if rng.random() > 0.02 else "positive",
        "hcv_ab": "negative",
        "good_blastocysts": int(rng.integers(2, 7)),
        "severe_iua_electroresection": True,
        "normal_cavity_hysteroscopy_date": on - dt.timedelta(days=int(rng.integers(10, 80))),
        "cancelled_fet_thin_endometrium": True,
        "current_uterine_abnormality": bool(rng.random() < 0.02),
        "hydrosalpinx": False,
        "consecutive_failed_transfers": int(rng.integers(0, 3)),
        "failed_good_embryos": int(rng.integers(0, 4)),
        "unexplained_bleeding": False,
        "active_pid": bool(rng.random() < 0.01),
        "tract_malformation": False,
        "abnormal_tct_1y": False,
        "severe_hepatic_renal": False,
        "cardiac_disease": False,
        "hypertension": False,
        "thromboembolism_history": bool(rng.random() < 0.01),
        "platelets_1e9_l": round(float(rng.normal(230, 45)), 0),
        "hemoglobin_g_l": round(float(rng.normal(128, 10)), 0),
        "hematologic_disorder": False,
        "systemic_disease": bool(rng.random() < 0.02),
        "recurrent_miscarriage": False,
        "couple_chromosomal_abnormality": bool(rng.random() < 0.01),
        "couple_genetic_disorder": False,
        "couple_teratogen_exposure": False,
        "last_other_trial_date": None,
        "investigator_excludes": bool(rng.random() < 0.02),
        "cannot_comply": False,
        "iodine_allergy": bool(rng.random() < P_IODINE_ALLERGY),
    }


def _apply(items: dict[str, object], changes: dict[str, object], on: dt.date) -> None:
    for name, value in changes.items():
        if name == "_old_hysteroscopy":
            items["normal_cavity_hysteroscopy_date"] = on - dt.timedelta(days=150)
        elif name == "_recent_trial":
            items["last_other_trial_date"] = on - dt.timedelta(days=40)
        else:
            items[name] = value
