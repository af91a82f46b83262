"""Effect sizes and event rates of the synthetic run, with where they come from.

These are plausible values for a demonstration, taken from the published ranges below (approximate
figures: check them against the papers before quoting them); the demo data are synthetic and must
never be analysed as evidence.

- Endometrial thickness: women with severe IUA and a cancelled FET for thin endometrium have a
  late-proliferative thickness of about 4.5-6 mm (baseline ~5.3 mm here). Stem-cell series report
  gains of about 1-1.5 mm (Cao et al., Stem Cell Res Ther 2018;9:192, umbilical-cord MSC on a
  collagen scaffold for recurrent IUA; Zhang et al., Stem Cell Res Ther 2021, MSC therapy for
  thin endometrium/IUA); HRT alone gains little (~0.5 mm).
- Clinical pregnancy per transfer: ~20-30% with HRT-FET after severe IUA / thin endometrium
  (control, 25% here); ~40-50% in MSC trials (hbmsc, 45% here) (Cao 2018; Zhang 2021).
- Biochemical pregnancy ~8% of transfers; miscarriage ~15-20% of clinical pregnancies after IUA.
- Procedure AEs of uterine-artery catheterisation (groin hematoma ~5-10%, pelvic pain, fever)
  follow interventional-radiology series; serious events are rare (contrast reactions ~1-4%).
- Transfers cancelled for a thin endometrium despite extended estradiol: ~10-15% in this group.
"""

from __future__ import annotations

from typing import Final

BASELINE_THICKNESS_MM: Final = (5.3, 0.7)
"""Mean and SD of the day-9 treatment-cycle thickness (mm)."""
LATE_PROLIFERATIVE_GAIN_MM: Final = {"control": 0.5, "hbmsc": 1.4}
TRANSFER_CYCLE_GAIN_MM: Final = {"control": 1.2, "hbmsc": 2.1}
"""Transfer-cycle day-12 thickness = baseline + this gain + N(0, 0.8)."""
EXTENDED_ESTRADIOL_GAIN_MM: Final = 1.0
"""Gain from 4-7 more days of estradiol when the first scan is below the threshold."""
CANCEL_BELOW_MM: Final = 6.0
"""Below this after extension the transfer is cancelled (thin endometrium)."""
P_CLINICAL_PREGNANCY: Final = {"control": 0.25, "hbmsc": 0.45}
P_BIOCHEMICAL: Final = 0.08
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
