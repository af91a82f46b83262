"""Effect sizes and event rates of the synthetic run, and where each comes from.

The demo data are synthetic and must never be analysed as evidence. Two kinds of value:

Checked against the paper (abstract):
- Zhang Y et al. Unresponsive thin endometrium caused by Asherman syndrome treated with umbilical
  cord MSCs on collagen scaffolds: a pilot study. Stem Cell Res Ther 2021;12:420,
  doi:10.1186/s13287-021-02499-z. 18 women whose FET had been cancelled for endometrium <= 5.5 mm;
  thickness rose from 4.08 +/- 0.26 to 5.87 +/- 0.77 mm three months after transplantation, and 3 of
  15 transferred became pregnant (20%). This sets the stem-cell gain of about 1.5 mm.
- Cao Y et al. Allogeneic cell therapy using umbilical cord MSCs on collagen scaffolds for patients
  with recurrent uterine adhesion: a phase I clinical trial. Stem Cell Res Ther 2018;9:192,
  doi:10.1186/s13287-018-0904-3. 26 women with recurrent IUA; no treatment-related serious adverse
  event; thickness up and adhesion score down at 3 months (used for the safety profile only).

Assumed for the demonstration (no single source; change them freely):
- Baseline thickness 5.3 +/- 0.7 mm (inclusion 9 asks for a cancelled FET below 6 mm) and a
  smaller gain with HRT alone (0.5 mm in the treatment cycle).
- Clinical pregnancy per transfer: 20% with HRT alone after severe IUA and thin endometrium (the
  uncontrolled 20% above is the best published figure for treated women, so an untreated control
  should not do better) and 35% with hBMSC, the kind of effect a 60-woman trial is designed to look
  for. The trial exists because this effect is unknown.
- Biochemical pregnancy ~8% of transfers; miscarriage ~18% of clinical pregnancies; transfers
  cancelled for a thin endometrium despite extended estradiol ~10-15%; delivery at 38.5 +/- 1.6
  weeks; stillbirth 0.5% of deliveries.
- Procedure adverse events of uterine-artery catheterisation (groin hematoma, pelvic pain, fever,
  contrast reaction) at rates typical of interventional-radiology series; serious ones rare.
"""

from __future__ import annotations

from typing import Final

BASELINE_THICKNESS_MM: Final = (5.3, 0.7)
"""Mean and SD of the day-9 treatment-cycle thickness (mm)."""
LATE_PROLIFERATIVE_GAIN_MM: Final = {"control": 0.5, "hbmsc": 1.5}
TRANSFER_CYCLE_GAIN_MM: Final = {"control": 1.2, "hbmsc": 2.1}
"""Transfer-cycle day-12 thickness = baseline + this gain + N(0, 0.8)."""
EXTENDED_ESTRADIOL_GAIN_MM: Final = 1.0
"""Gain from 4-7 more days of estradiol when the first scan is below the threshold."""
CANCEL_BELOW_MM: Final = 6.0
"""Below this after extension the transfer is cancelled (thin endometrium)."""
P_CLINICAL_PREGNANCY: Final = {"control": 0.20, "hbmsc": 0.35}
P_BIOCHEMICAL: Final = 0.08
DELIVERY_WEEKS: Final = (38.5, 1.6)
"""Mean and SD of gestational age at delivery (weeks), drawn within 30-41.7."""
P_STILLBIRTH: Final = 0.005
P_MISCARRIAGE: Final = 0.18
P_TWINS_IF_TWO_EMBRYOS: Final = 0.12
P_DOUBLE_EMBRYO: Final = 0.3
P_DECLINES_CONSENT: Final = 0.1
P_WITHDRAWS: Final = 0.07
P_LATE_VISIT: Final = 0.03
P_TYPO: Final = 0.03
GOOD_GRADES: Final = ("3BB", "4BB", "4AB", "4BA", "4AA", "5AB", "5BB", "3AB")

#: (term, CTCAE grade, serious, probability, related to) for the stem-cell arm's procedure.
PROCEDURE_AES: Final = (
    ("Hematoma", 1, False, 0.08, "procedure"),
    ("Pelvic pain", 1, False, 0.10, "procedure"),
    ("Fever", 1, False, 0.06, "cells"),
    ("Allergic reaction", 3, True, 0.04, "procedure"),
)
#: Adverse events of HRT seen in both arms.
HRT_AES: Final = (
    ("Nausea", 1, False, 0.06, "hrt"),
    ("Headache", 1, False, 0.05, "hrt"),
    ("Breast pain", 1, False, 0.04, "hrt"),
)

#: The protocol these values are cited for, and the arms they name.
CITED_PROTOCOL = "nct07176143"
CITED_ARMS = ("control", "hbmsc")
#: Days the thin endometrium's estradiol is extended before the scan is repeated.
EXTENSION_DAYS: Final = 4
#: The seed's demo site and the basis recorded at each (non-randomized) allocation.
SITE: Final = ("GZ6", "Sixth Affiliated Hospital, SYSU")
ALLOCATION_BASIS: Final = {
    "hbmsc": "participant preference after counselling; fit for the uterine-artery procedure",
    "control": "participant preference (or procedure not possible / stem-cell arm full)",
}
#: Gain over her baseline by each scheduled scan (mm) and the scan's noise SD (mm).
SCAN_EFFECTS: Final = {
    "late_proliferative_ultrasound": (LATE_PROLIFERATIVE_GAIN_MM, 0.5),
    "transfer_ultrasound": (TRANSFER_CYCLE_GAIN_MM, 0.8),
}
#: Results of the cell product's release tests recorded with each infusion (within the
#: ISCT criteria and the protocol's limits).
RELEASE_RESULTS: Final[dict[str, float | str]] = {
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin_eu_ml": 0.12,
    "cd105_pct": 98.6,
    "cd73_pct": 99.1,
    "cd90_pct": 98.9,
    "cd45_pct": 0.4,
    "cd34_pct": 0.3,
    "cd14_or_cd11b_pct": 0.5,
    "cd79a_or_cd19_pct": 0.2,
    "hla_dr_pct": 0.7,
}
