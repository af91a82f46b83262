"""Argument checks shared by the analysis functions: bad input is an InputError naming it."""

from __future__ import annotations

import math
import numbers

from endotrial.errors import InputError


def check_confidence(confidence: float) -> float:
    """A confidence level strictly between 0 and 1 (0.95, not 95)."""
    if not isinstance(confidence, numbers.Real) or not 0 < float(confidence) < 1:
        raise InputError(
            f"confidence level {confidence!r} must be between 0 and 1, e.g. 0.95 (not 95)"
        )
    return float(confidence)


def check_counts(events: object, total: object, group: str) -> tuple[int, int]:
    """Whole numbers with 0 <= events <= total and total > 0, else a message naming the group."""
    for value, what in ((events, "events"), (total, "total")):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(f"group {group}: {what} {value!r} must be a whole number")
    ev, tot = int(events), int(total)  # type: ignore[call-overload]
    if tot <= 0:
        raise InputError(
            f"group {group}: total is {tot}; a proportion needs at least one participant"
        )
    if not 0 <= ev <= tot:
        raise InputError(f"group {group}: events {ev} must be between 0 and the total {tot}")
    return ev, tot


def check_probability(value: float, what: str, *, open_interval: bool = True) -> float:
    """A probability; strictly inside (0, 1) when `open_interval`."""
    if not isinstance(value, numbers.Real) or math.isnan(float(value)):
        raise InputError(f"{what} {value!r} must be a number between 0 and 1")
    number = float(value)
    inside = 0 < number < 1 if open_interval else 0 <= number <= 1
    if not inside:
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise InputError(f"{what} {number:g} must be {bounds}")
    return number
