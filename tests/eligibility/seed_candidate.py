"""The seed protocol's fully eligible candidate, written once: the eligibility tests change one
item of it at a time, and bench/bench_single_candidate.py screens it (it puts this folder on
its import path)."""

from __future__ import annotations

import datetime as dt
from typing import Any

SCREENING_DAY = dt.date(2025, 6, 2)
TODAY = dt.date(2025, 6, 30)
#: The exclusion criteria and the yes/no items each reads (all False when she is eligible).
EXCLUSION_FLAGS = {
    "E2": ("current_uterine_abnormality", "hydrosalpinx"),
    "E4": ("unexplained_bleeding",),
    "E5": ("active_pid",),
    "E6": ("tract_malformation",),
    "E7": ("abnormal_tct_1y",),
    "E8": ("severe_hepatic_renal", "cardiac_disease", "hypertension"),
    "E9": ("thromboembolism_history",),
    "E10": ("hematologic_disorder",),
    "E11": ("systemic_disease",),
    "E12": ("recurrent_miscarriage",),
    "E13": ("couple_chromosomal_abnormality",),
    "E14": ("couple_genetic_disorder",),
    "E15": ("couple_teratogen_exposure",),
    "E17": ("investigator_excludes",),
    "E18": ("cannot_comply",),
}


def eligible_items() -> dict[str, Any]:
    """Every seed item given, each inside its criterion's bounds."""
    items: dict[str, Any] = {
        "candidate_id": "C001",
        "screening_date": SCREENING_DAY,
        "sex": "F",
        "age_years": 30,
        "bmi_kg_m2": 22.0,
        "cycle_length_days": 28,
        "regular_cycle_months": 12,
        "afc": 10,
        "fsh_iu_l": 6.0,
        "sex_hormones_normal": True,
        "serology_date": dt.date(2025, 3, 1),
        "hiv_ab": "negative",
        "tpa": "negative",
        "hbsag": "negative",
        "hcv_ab": "negative",
        "good_blastocysts": 3,
        "severe_iua_electroresection": True,
        "normal_cavity_hysteroscopy_date": dt.date(2025, 5, 1),
        "cancelled_fet_thin_endometrium": True,
        "consecutive_failed_transfers": 1,
        "failed_good_embryos": 2,
        "platelets_1e9_l": 220,
        "hemoglobin_g_l": 130,
        "last_other_trial_date": None,
        "iodine_allergy": False,
    }
    for flags in EXCLUSION_FLAGS.values():
        items.update(dict.fromkeys(flags, False))
    return items
