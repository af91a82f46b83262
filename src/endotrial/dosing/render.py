"""A dose plan as text for the cell lab's worksheet and as a plain dict for JSON.

Cell counts are written in scientific notation (6.000 × 10^7), the way the lab reads them;
the JSON keeps full numbers and names every unit in its key.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from endotrial.dosing.engine import DosePlan, ReleaseCheck, ReleaseStatus
from endotrial.dosing.engine import format_cells as cells

_SYMBOLS = {"minimum": "≥", "maximum": "≤", "equals": "="}


def dose_plan_dict(plan: DosePlan) -> dict[str, Any]:
    """Every field of the plan, release checks as dicts, statuses as their words."""
    data = asdict(plan)
    data["release_checks"] = [_check_dict(c) for c in plan.release_checks]
    data["notes"] = list(plan.notes)
    return data


def render_dose_json(plan: DosePlan) -> str:
    return json.dumps(dose_plan_dict(plan), indent=2, ensure_ascii=False)


def _check_dict(check: ReleaseCheck) -> dict[str, Any]:
    data = asdict(check)
    data["status"] = check.status.value
    return data


def render_dose_text(plan: DosePlan) -> str:
    """A worksheet: the dose, its preparation, the tolerance band, then the release checks."""
    lines = [f"Dose plan — {plan.product} (rule {plan.rule_id})", ""]
    lines += _rows(_dose_rows(plan))
    lines += ["", f"Release: {'RELEASED' if plan.released else 'NOT RELEASED'}"]
    lines += _release_table(plan.release_checks)
    lines += ["", *(f"Note: {note}" for note in plan.notes)]
    return "\n".join(lines).rstrip() + "\n"


def _dose_rows(plan: DosePlan) -> list[tuple[str, str]]:
    rows = [
        ("Weight", "not needed" if plan.weight_kg is None else f"{plan.weight_kg:g} kg"),
        ("Dose rule", _kind(plan)),
        ("Dose (viable cells)", f"{cells(plan.dose_viable_cells)} cells"),
        ("Volume", f"{plan.volume_ml:g} mL"),
        ("Viable concentration", f"{cells(plan.viable_concentration_cells_per_ml)} cells/mL"),
    ]
    if plan.capped:
        rows.insert(3, ("Capped from", f"{cells(plan.dose_uncapped_viable_cells)} cells"))
    if plan.viability_pct is not None and plan.draw_total_cells is not None:
        total_concentration = plan.total_concentration_cells_per_ml or 0.0
        rows += [
            ("Viability", f"{plan.viability_pct:g} %"),
            ("Total cells to draw", f"{cells(plan.draw_total_cells)} cells"),
            ("Total concentration", f"{cells(total_concentration)} cells/mL"),
        ]
    if plan.stock_cells_per_ml is not None:
        rows += [
            ("Stock concentration", f"{cells(plan.stock_cells_per_ml)} cells/mL"),
            ("Stock to draw", f"{plan.stock_volume_ml or 0.0:.2f} mL"),
            ("Diluent to add", f"{plan.diluent_volume_ml or 0.0:.2f} mL"),
        ]
    band = f"{cells(plan.dose_min_viable_cells)} – {cells(plan.dose_max_viable_cells)} cells"
    rows.append((f"Tolerance (±{plan.tolerance_pct:g} %)", band))
    return rows


def _kind(plan: DosePlan) -> str:
    """'fixed (whatever the weight)' or '1.000 × 10^6 cells/kg, capped at …'."""
    if plan.kind == "fixed" or plan.cells_per_kg is None:
        return "fixed (the same cells whatever the weight)"
    cap = f", capped at {cells(plan.max_total_cells)} cells" if plan.max_total_cells else ""
    return f"{cells(plan.cells_per_kg)} cells/kg{cap}"


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(name) for name, _ in rows)
    return [f"  {name.ljust(width)}  {value}" for name, value in rows]


def _release_table(checks: tuple[ReleaseCheck, ...]) -> list[str]:
    """One row per release test; the id first, since results are given by it (id=value)."""
    if not checks:
        return ["  (the dose rule has no release criteria)"]
    rows = [("id", "criterion", "limit", "result", "status")]
    rows += [(c.criterion_id, c.label, _limit(c), _value(c), _status(c.status)) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _limit(check: ReleaseCheck) -> str:
    unit = f" {check.unit}" if check.unit else ""
    limit = f"{check.limit:g}" if isinstance(check.limit, float) else str(check.limit)
    return f"{_SYMBOLS[check.kind]} {limit}{unit}"


def _value(check: ReleaseCheck) -> str:
    if check.value is None:
        return "—"
    unit = f" {check.unit}" if check.unit and not isinstance(check.value, str) else ""
    return f"{check.value:g}{unit}" if isinstance(check.value, float) else f"{check.value}{unit}"


def _status(status: ReleaseStatus) -> str:
    return {"pass": "pass", "fail": "FAIL", "not tested": "not tested"}[status.value]
