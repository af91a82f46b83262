"""Write examples/candidates.csv: 30 screening candidates for the README demo of the seed trial.

Each row starts from one fully eligible candidate and changes what its note says, so the file
shows every kind of decision: eligible, each reason to be ineligible, incomplete (items missing),
an iodine allergy (stem-cell arm closed, trial open) and a few malformed rows.

Run:  .venv/bin/python examples/make_candidates.py
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("candidates.csv")
FLAGS = (
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
    "iodine_allergy",
)
BASE: dict[str, Any] = {
    "screening_date": "2025-10-13",
    "sex": "F",
    "birth_date": "",
    "age_years": 31,
    "weight_kg": "",
    "height_cm": "",
    "bmi_kg_m2": 21.8,
    "cycle_length_days": 29,
    "regular_cycle_months": 24,
    "afc": 9,
    "fsh_iu_l": 6.4,
    "sex_hormones_normal": "yes",
    "serology_date": "2025-08-20",
    "hiv_ab": "negative",
    "tpa": "negative",
    "hbsag": "negative",
    "hcv_ab": "negative",
    "good_blastocysts": 3,
    "severe_iua_electroresection": "yes",
    "normal_cavity_hysteroscopy_date": "2025-09-02",
    "cancelled_fet_thin_endometrium": "yes",
    "consecutive_failed_transfers": 1,
    "failed_good_embryos": 2,
    "platelets_1e9_l": 236,
    "hemoglobin_g_l": 128,
    "last_other_trial_date": "",
    **dict.fromkeys(FLAGS, "no"),
}
# (candidate id, changes from BASE): the comment says what the screening should find.
CANDIDATES: list[tuple[str, dict[str, Any]]] = [
    ("SC-001", {}),  # eligible
    ("SC-002", {"age_years": "", "birth_date": "1990-04-17"}),  # eligible, age from birth date
    ("SC-003", {"bmi_kg_m2": "", "weight_kg": 58.5, "height_cm": 162}),  # eligible, BMI 22.3
    ("SC-004", {"age_years": 38, "afc": 6, "fsh_iu_l": 10}),  # eligible at the edges
    ("SC-005", {"age_years": 40}),  # I2 age
    ("SC-006", {"bmi_kg_m2": 29.4}),  # I3 BMI
    ("SC-007", {"cycle_length_days": 40}),  # I4 cycle
    ("SC-008", {"afc": 4, "fsh_iu_l": 12.3}),  # I5 ovarian reserve
    ("SC-009", {"hbsag": "positive"}),  # I6 serology
    ("SC-010", {"serology_date": "2025-03-02"}),  # I6 serology older than 6 months
    ("SC-011", {"good_blastocysts": 1}),  # I7 blastocysts
    ("SC-012", {"normal_cavity_hysteroscopy_date": "2025-06-30"}),  # I8 too old
    ("SC-013", {"cancelled_fet_thin_endometrium": "no"}),  # I9
    ("SC-014", {"sex": "M"}),  # SEX
    ("SC-015", {"hydrosalpinx": "yes"}),  # E2
    ("SC-016", {"consecutive_failed_transfers": 4, "failed_good_embryos": 7}),  # E3
    ("SC-017", {"hypertension": "yes"}),  # E8
    ("SC-018", {"platelets_1e9_l": 88}),  # E10
    ("SC-019", {"recurrent_miscarriage": "yes"}),  # E12
    ("SC-020", {"last_other_trial_date": "2025-08-01"}),  # E16
    ("SC-021", {"cannot_comply": "yes", "afc": ""}),  # E18 decides although AFC is missing
    ("SC-022", {"iodine_allergy": "yes"}),  # eligible, control arm only
    ("SC-023", {"afc": "", "fsh_iu_l": ""}),  # incomplete: I5
    ("SC-024", {"age_years": "", "serology_date": ""}),  # incomplete: I2, I6
    ("SC-025", {"bmi_kg_m2": "", "weight_kg": 61}),  # incomplete: height missing
    ("SC-026", {"cardiac_disease": ""}),  # incomplete: E8 unknown
    ("SC-027", {"age_years": "thirty"}),  # malformed: not a number
    ("SC-028", {"bmi_kg_m2": "", "weight_kg": -60, "height_cm": 165}),  # malformed: below minimum
    ("SC-029", {"serology_date": "2025-11-20"}),  # malformed: after the screening date
    ("SC-003", {"afc": 12}),  # malformed: a repeated candidate id
]


def main() -> None:
    with OUTPUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["candidate_id", *BASE])
        writer.writeheader()
        for candidate_id, changes in CANDIDATES:
            writer.writerow({"candidate_id": candidate_id, **BASE, **changes})
    print(f"wrote {len(CANDIDATES)} candidates to {OUTPUT}")


if __name__ == "__main__":
    main()
