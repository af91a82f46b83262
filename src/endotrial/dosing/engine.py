"""The cell dose of one participant, how to prepare it, and whether the product may be released.

A dose rule is per kg (cells per kg of body weight, in a weight range, perhaps capped) or fixed
(the same cells whatever the weight); an arm may give a procedure its own rule (its dose group)
or none (a vehicle control: the procedure without cells).

The arithmetic is done in decimal, on the numbers as written, so a rounding step or a tolerance
edge gives the answer a pharmacist gets by hand (60 kg × 0.9 is 54, not 53.999…).
The dose counts viable cells; the cell lab's counts (stock concentration) count every cell, and
the viability converts one into the other.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from endotrial.errors import InputError, ProtocolError
from endotrial.protocol.models import DoseRule, Protocol, ReleaseCriterion

VIABILITY_RESULT_ID = "viability_pct"
"""The release-result id under which `compute_dose(viability_pct=...)` is also counted."""

FAILING_WORDS: dict[str, tuple[str, ...]] = {
    "negative": ("positive", "detected", "present"),
    "positive": ("negative", "not detected", "absent"),
    "absent": ("present", "detected"),
    "pass": ("fail",),
    "conforms": ("does not conform",),
}
"""For a criterion that must equal a word, the results that mean it failed; any word without
an entry here fails as "fail". Only the protocol's own word passes: a synonym or an
abbreviation ("neg") is refused, never guessed."""


class ReleaseStatus(StrEnum):
    passed = "pass"
    failed = "fail"
    not_tested = "not tested"


@dataclass(frozen=True)
class ReleaseCheck:
    """One release criterion against the lab's result."""

    criterion_id: str
    label: str
    kind: str
    limit: float | str
    unit: str | None
    value: float | str | None
    status: ReleaseStatus
    override_allowed: bool = False
    """Whether the protocol lets an investigator accept this check's failure, with a reason."""
    override_limit: float | None = None
    """The result beyond which no override passes."""

    @property
    def overridable(self) -> bool:
        """A failure an investigator may accept: allowed by the protocol, and within its
        override limit (a missing result is never accepted)."""
        if self.status is not ReleaseStatus.failed or not self.override_allowed:
            return False
        if self.override_limit is None or isinstance(self.value, str) or self.value is None:
            return self.kind == "equals"
        value = float(self.value)
        return (
            value >= self.override_limit if self.kind == "minimum" else value <= self.override_limit
        )


@dataclass(frozen=True)
class DosePlan:
    """Everything the cell lab and the radiologist need for one participant's dose.

    Fields with `viable` count viable cells (the dose); `total` counts all cells drawn
    (viable and not). Optional fields are None when their input was not given.
    """

    rule_id: str
    kind: str
    """'per_kg' or 'fixed' (then `cells_per_kg` is None and the weight may be None)."""
    product: str
    weight_kg: float | None
    cells_per_kg: float | None
    round_to_cells: float
    dose_uncapped_viable_cells: float
    max_total_cells: float | None
    capped: bool
    dose_viable_cells: float
    volume_ml: float
    viable_concentration_cells_per_ml: float
    viability_pct: float | None
    draw_total_cells: float | None
    total_concentration_cells_per_ml: float | None
    stock_cells_per_ml: float | None
    stock_volume_ml: float | None
    diluent_volume_ml: float | None
    tolerance_pct: float
    dose_min_viable_cells: float
    dose_max_viable_cells: float
    release_checks: tuple[ReleaseCheck, ...]
    released: bool
    notes: tuple[str, ...]


def compute_dose(
    protocol_or_rule: Protocol | DoseRule,
    weight_kg: float | None,
    viability_pct: float | None = None,
    stock_cells_per_ml: float | None = None,
    release_results: Mapping[str, float | str] | None = None,
    *,
    rule_id: str | None = None,
) -> DosePlan:
    """The dose for `weight_kg` under the protocol's dose rule (or the one named `rule_id`);
    a fixed dose needs no weight."""
    rule = _rule(protocol_or_rule, rule_id)
    weight = _checked_weight(rule, weight_kg)
    uncapped = _uncapped_dose(rule, weight)
    cap = None if rule.max_total_cells is None else _dec(rule.max_total_cells)
    capped = cap is not None and uncapped > cap
    dose = cap if cap is not None and capped else uncapped
    volume = _dec(rule.volume_ml)
    viability = _checked_viability(viability_pct)
    draw = None if viability is None else dose * 100 / viability
    stock_ml, diluent_ml = _dilution(rule, draw or dose, stock_cells_per_ml)
    low, high = _band(dose, _dec(rule.tolerance_pct))
    checks = release_checks(rule, _results(release_results, viability_pct))
    notes = _notes(rule, weight, uncapped, capped, viability is None and stock_ml is not None)
    return DosePlan(
        rule_id=rule.id,
        kind=rule.kind,
        product=rule.product,
        weight_kg=None if weight is None else float(weight),
        cells_per_kg=rule.cells_per_kg,
        round_to_cells=rule.round_to_cells,
        dose_uncapped_viable_cells=float(uncapped),
        max_total_cells=rule.max_total_cells,
        capped=capped,
        dose_viable_cells=float(dose),
        volume_ml=rule.volume_ml,
        viable_concentration_cells_per_ml=float(dose / volume),
        viability_pct=None if viability_pct is None else float(viability_pct),
        draw_total_cells=None if draw is None else float(draw),
        total_concentration_cells_per_ml=None if draw is None else float(draw / volume),
        stock_cells_per_ml=None if stock_cells_per_ml is None else float(stock_cells_per_ml),
        stock_volume_ml=None if stock_ml is None else float(stock_ml),
        diluent_volume_ml=None if diluent_ml is None else float(diluent_ml),
        tolerance_pct=rule.tolerance_pct,
        dose_min_viable_cells=float(low),
        dose_max_viable_cells=float(high),
        release_checks=checks,
        released=all(c.status is ReleaseStatus.passed for c in checks),
        notes=notes,
    )


def _uncapped_dose(rule: DoseRule, weight: Decimal | None) -> Decimal:
    """The fixed cells as written, or cells per kg × weight rounded to the rule's step."""
    if rule.kind == "fixed":
        assert rule.cells is not None  # the model's validator guarantees it
        return _dec(rule.cells)
    assert rule.cells_per_kg is not None and weight is not None  # per_kg: both checked
    return _round_to(weight * _dec(rule.cells_per_kg), _dec(rule.round_to_cells))


def procedure_dose_rule(protocol: Protocol, arm_id: str, procedure_id: str) -> DoseRule | None:
    """The rule arm `arm_id` doses procedure `procedure_id` by: the arm's own (its dose group)
    or else the procedure's; None when the arm gives it without cells (a vehicle control)."""
    arm, spec = protocol.arm(arm_id), protocol.procedure(procedure_id)
    rule_id = arm.dose_rules.get(spec.id, spec.dose_rule)
    return None if rule_id is None else protocol.dose_rule(rule_id)


def arm_dose_rule(protocol: Protocol, arm_id: str) -> DoseRule | None:
    """The one rule the arm's procedures are dosed by; None when it gives no cells. An arm
    whose procedures are dosed by different rules is refused: name the rule instead."""
    rules = {
        rule.id: rule
        for procedure_id in protocol.arm(arm_id).procedures
        if (rule := procedure_dose_rule(protocol, arm_id, procedure_id)) is not None
    }
    if len(rules) > 1:
        raise InputError(
            f"arm '{arm_id}' of protocol {protocol.protocol_id} is dosed by several rules "
            f"{sorted(rules)}: name one with --rule",
            code="dose.arm_rules", field="arm",
        )  # fmt: skip
    return next(iter(rules.values()), None)


def dose_choices(protocol: Protocol) -> dict[str, str]:
    """Each arm with procedures → the rule that doses it ('no cells' for a vehicle control)."""
    choices: dict[str, str] = {}
    for arm in protocol.arms:
        if not arm.procedures:
            continue
        try:
            rule = arm_dose_rule(protocol, arm.id)
        except InputError:
            choices[arm.id] = "several rules"
            continue
        choices[arm.id] = "no cells" if rule is None else rule.id
    return choices


def dose_within_tolerance(plan: DosePlan, dose_given_cells: float) -> bool:
    """Whether the viable cells actually given lie in the band (edges included)."""
    low, high = _band(_dec(plan.dose_viable_cells), _dec(plan.tolerance_pct))
    return low <= _dec(dose_given_cells) <= high


def release_checks(
    rule: DoseRule, results: Mapping[str, float | str] | None
) -> tuple[ReleaseCheck, ...]:
    """Each release criterion of `rule` against `results`; an unknown result id is refused."""
    results = results or {}
    known = {c.id for c in rule.release_criteria}
    unknown = sorted(set(results) - known)
    if unknown:
        raise InputError(
            f"release results {unknown} match no release criterion of dose rule '{rule.id}': "
            f"use the criterion ids {sorted(known)}"
        )
    return tuple(_check(c, _checked_result(c, results.get(c.id))) for c in rule.release_criteria)


def allowed_results(criterion: ReleaseCriterion) -> tuple[str, ...] | None:
    """The words a result of `criterion` may be, the passing one first; None for a number."""
    if not isinstance(_number_or_text(criterion.value), str) or criterion.kind != "equals":
        return None
    passing = str(criterion.value).strip().casefold()
    return (passing, *FAILING_WORDS.get(passing, ("fail",)))


def _checked_result(criterion: ReleaseCriterion, value: float | str | None) -> float | str | None:
    """The lab's result when it is one the criterion can judge; else an error saying what to
    write (so `sterility=neg` is refused instead of being read as a failed test)."""
    if value is None:
        return None
    if criterion.id == VIABILITY_RESULT_ID:
        _refuse_fraction(value)
    allowed = allowed_results(criterion)
    if allowed is None:
        _check_possible(criterion, _number(criterion, value))
        return value
    given = str(value).strip().casefold()
    if given in allowed:
        return value
    suggestion = _suggestion(given, allowed)
    hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
    raise InputError(
        f"release result for {criterion.id} ({criterion.label}) is '{value}'{hint}: give "
        f"'{allowed[0]}' (passes) or " + ", ".join(f"'{word}'" for word in allowed[1:]) + " (fails)"
    )


def _check_possible(criterion: ReleaseCriterion, number: Decimal) -> None:
    """A result no product can have (a negative endotoxin, CD105 at 150 %) is a typing error,
    refused rather than judged against the limit."""
    low, high = criterion.possible_range()
    if number < _dec(low) or (high is not None and number > _dec(high)):
        unit = f" {criterion.unit}" if criterion.unit else ""
        span = f"{low:g} to {high:g}{unit}" if high is not None else f"at least {low:g}{unit}"
        raise InputError(
            f"release result for {criterion.id} ({criterion.label}) is {number}{unit}, which is "
            f"impossible (a result lies {span}): check the certificate and retype it",
            code="dose.release_impossible",
            field=f"release_results.{criterion.id}",
        )


def _suggestion(given: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed word `given` abbreviates or misspells; none for a negated word ("not
    detected" is close to "detected" in spelling and opposite in meaning)."""
    if not given or given.split()[0] in ("not", "no", "non"):
        return None
    close = [word for word in allowed if len(given) >= 3 and word.startswith(given)]
    close = close or difflib.get_close_matches(given, allowed, n=1, cutoff=0.75)
    return close[0] if close else None


def _rule(protocol_or_rule: Protocol | DoseRule, rule_id: str | None) -> DoseRule:
    if isinstance(protocol_or_rule, DoseRule):
        return protocol_or_rule
    rules = protocol_or_rule.dose_rules
    if rule_id is None and len(rules) == 1:
        return rules[0]
    for rule in rules:
        if rule.id == rule_id:
            return rule
    if not rules:
        raise ProtocolError(f"protocol {protocol_or_rule.protocol_id} has no dose rule")
    if rule_id is None:
        arms = ", ".join(f"{arm}: {rule}" for arm, rule in dose_choices(protocol_or_rule).items())
        raise InputError(
            f"protocol {protocol_or_rule.protocol_id} has {len(rules)} dose rules: choose one "
            f"with --rule ({', '.join(r.id for r in rules)})"
            + (f" or an arm with --arm ({arms})" if arms else ""),
            code="dose.choose_rule", field="rule",
        )  # fmt: skip
    raise InputError(
        f"protocol {protocol_or_rule.protocol_id} has no dose rule '{rule_id}': "
        f"name one of {[r.id for r in rules]}"
    )


def format_cells(value: float) -> str:
    """6.0e7 → '6.000 × 10^7', the way the cell lab writes counts."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.3e}".split("e")
    return f"{mantissa} × 10^{int(exponent)}"


def _dec(value: float) -> Decimal:
    """A float as the decimal it was written as (58.35, not 58.34999…)."""
    return Decimal(repr(value))


def _round_to(value: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of `step`, halves up (the usual rule for a counted dose)."""
    return (value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def _band(dose: Decimal, tolerance_pct: Decimal) -> tuple[Decimal, Decimal]:
    return dose * (100 - tolerance_pct) / 100, dose * (100 + tolerance_pct) / 100


def _checked_weight(rule: DoseRule, weight_kg: float | None) -> Decimal | None:
    """Weight in the rule's range, or an error saying what to do about it; a fixed dose
    without a weight range may go without a weight."""
    if weight_kg is None:
        if rule.kind == "per_kg" or rule.weight_min_kg is not None:
            raise InputError(
                f"dose rule '{rule.id}' needs the body weight: give it in kg (--weight-kg)",
                code="dose.needs_weight", field="weight_kg",
            )  # fmt: skip
        return None
    if not math.isfinite(weight_kg) or weight_kg <= 0:
        raise InputError(f"weight {weight_kg} kg is not a body weight: give it in kg, above 0")
    if rule.weight_min_kg is None or rule.weight_max_kg is None:
        return _dec(weight_kg)
    if not rule.weight_min_kg <= weight_kg <= rule.weight_max_kg:
        raise InputError(
            f"weight {weight_kg:g} kg is outside the range of dose rule '{rule.id}' "
            f"({rule.weight_min_kg:g}–{rule.weight_max_kg:g} kg): weigh the participant again; "
            "if the weight is right, the protocol gives no dose and the investigator decides "
            "(record it as a protocol deviation)"
        )
    return _dec(weight_kg)


def _checked_viability(viability_pct: float | None) -> Decimal | None:
    if viability_pct is None:
        return None
    if not math.isfinite(viability_pct) or not 0 < viability_pct <= 100:
        raise InputError(
            f"viability {viability_pct} % is not a percentage of live cells: give a value "
            "above 0 and at most 100"
        )
    _refuse_fraction(viability_pct)
    return _dec(viability_pct)


def _refuse_fraction(viability_pct: float | str) -> None:
    """A viability under 1 % is never a real product: it is a fraction typed for a percentage
    (0.92 for 92 %), which would otherwise be counted as 0.92 % and fail (or worse, dose)."""
    value = _number_or_text(viability_pct)
    if isinstance(value, Decimal) and value.is_finite() and 0 < value < 1:
        percent = f"{(value * 100).normalize():f}"
        raise InputError(
            f"viability {viability_pct} % is below 1 %, which no cell product has: it looks "
            f"like a fraction; did you mean {percent}? Give the viability in % (0-100)"
        )


def _dilution(
    rule: DoseRule, cells_to_draw: Decimal, stock_cells_per_ml: float | None
) -> tuple[Decimal | None, Decimal | None]:
    """mL of stock holding the cells, and mL of diluent bringing it to the rule's volume."""
    if stock_cells_per_ml is None:
        return None, None
    if not math.isfinite(stock_cells_per_ml) or stock_cells_per_ml <= 0:
        raise InputError(f"stock concentration {stock_cells_per_ml} cells/mL must be above 0")
    volume = _dec(rule.volume_ml)
    stock_ml = cells_to_draw / _dec(stock_cells_per_ml)
    if stock_ml > volume:
        needed = cells_to_draw / volume
        raise InputError(
            f"the stock ({format_cells(stock_cells_per_ml)} cells/mL) is too dilute: the dose "
            f"needs {float(stock_ml):.2f} mL of it, more than the {rule.volume_ml:g} mL to infuse; "
            f"concentrate the cells to at least {format_cells(float(needed))} cells/mL "
            "(centrifuge and resuspend) and count again"
        )
    return stock_ml, volume - stock_ml


def _results(
    release_results: Mapping[str, float | str] | None, viability_pct: float | None
) -> dict[str, float | str]:
    """The lab's results, with the viability argument counted as the viability result."""
    results = dict(release_results or {})
    if viability_pct is not None:
        given = results.setdefault(VIABILITY_RESULT_ID, viability_pct)
        if _number_or_text(given) != _number_or_text(viability_pct):
            raise InputError(
                f"two viabilities given ({viability_pct} and {given} %): give one value"
            )
    return results


def _check(criterion: ReleaseCriterion, value: float | str | None) -> ReleaseCheck:
    status = ReleaseStatus.not_tested
    if value is not None:
        status = ReleaseStatus.passed if _passes(criterion, value) else ReleaseStatus.failed
    return ReleaseCheck(
        criterion_id=criterion.id,
        label=criterion.label,
        kind=criterion.kind,
        limit=criterion.value,
        unit=criterion.unit,
        value=value,
        status=status,
        override_allowed=criterion.override_allowed,
        override_limit=criterion.override_limit,
    )


def _passes(criterion: ReleaseCriterion, value: float | str) -> bool:
    if criterion.kind == "equals":
        limit, result = _number_or_text(criterion.value), _number_or_text(value)
        return limit == result
    limit_number, number = _number(criterion, criterion.value), _number(criterion, value)
    return number >= limit_number if criterion.kind == "minimum" else number <= limit_number


def _number_or_text(value: float | str) -> Decimal | str:
    """Compare '0.50' and 0.5 as numbers, 'Negative' and 'negative' as the same word. Only
    plain ASCII numbers count as numbers ('0.1', '1e-3'): full-width digits or '1_0', which
    Python would read, are text and refused as results."""
    text = str(value).strip()
    if not _PLAIN_NUMBER.fullmatch(text) and not isinstance(value, int | float):
        return text.casefold()
    try:
        return Decimal(text)
    except ArithmeticError:
        return text.casefold()


_PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _number(criterion: ReleaseCriterion, value: float | str) -> Decimal:
    found = _number_or_text(value)
    if isinstance(found, str) or not found.is_finite():
        raise InputError(
            f"release result for {criterion.id} ({criterion.label}) is '{value}', not a number: "
            f"give the measured value{f' in {criterion.unit}' if criterion.unit else ''}"
        )
    return found


def _notes(
    rule: DoseRule,
    weight: Decimal | None,
    uncapped: Decimal,
    capped: bool,
    stock_without_viability: bool,
) -> tuple[str, ...]:
    if rule.kind == "fixed":
        notes = [f"fixed dose: {format_cells(float(uncapped))} cells whatever the weight"]
    else:
        notes = [
            f"dose = {format_cells(rule.cells_per_kg or 0.0)} cells/kg × {weight} kg, "
            f"rounded to the nearest {format_cells(rule.round_to_cells)} cells"
        ]
    if capped:
        notes.append(
            f"capped: {format_cells(float(uncapped))} cells exceeds the maximum of "
            f"{format_cells(rule.max_total_cells or 0.0)} cells, so the maximum is given"
        )
    if stock_without_viability:
        notes.append(
            "no viability given: the stock volume assumes every counted cell is viable; "
            "give the viability to draw enough viable cells"
        )
    return tuple(notes)
