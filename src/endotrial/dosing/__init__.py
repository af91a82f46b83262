"""The dosing engine: a weight-based cell dose, its preparation and the product's release."""

from endotrial.dosing.engine import (
    DosePlan,
    ReleaseCheck,
    ReleaseStatus,
    allowed_results,
    compute_dose,
    dose_within_tolerance,
    format_cells,
    release_checks,
)
from endotrial.dosing.render import dose_plan_dict, render_dose_json, render_dose_text

__all__ = [
    "DosePlan",
    "ReleaseCheck",
    "ReleaseStatus",
    "allowed_results",
    "compute_dose",
    "dose_plan_dict",
    "dose_within_tolerance",
    "format_cells",
    "release_checks",
    "render_dose_json",
    "render_dose_text",
]
