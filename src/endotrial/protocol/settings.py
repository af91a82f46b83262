"""The protocol settings the engines and services read: each declared once, here, with its
type, unit, meaning and the feature that needs it.

A protocol file's `settings` are checked against this registry when it loads: an unknown
name, a value of the wrong type, outside its range or in another unit is a load error naming
the field; a setting that a feature the protocol uses needs (embryo transfers: the thickness
threshold, the β-hCG cut-off, ...) and that has no default is a load error naming the
feature. Code reads a setting through its `SettingSpec` (`TRANSFER_THICKNESS_MIN_MM.number(p)`),
never by a name typed in a service, so a setting that is read is a setting that is declared.

This module is part of the format's definition (docs/protocol-file.md, "Settings"): the names
below are the format's words, like the names of its fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from endotrial.errors import ProtocolError
from endotrial.protocol.models import EventRole, Protocol, Setting

SettingValue = float | int | str | bool
ValueKind = Literal["number", "integer", "text", "grades"]
Problem = tuple[tuple[str | int, ...], str]


class Feature(StrEnum):
    """What a protocol does that needs settings; used when the protocol has it."""

    embryo_transfer = "embryo transfer"
    """The schedule has an event with `role: embryo_transfer`."""
    adverse_events = "adverse-event reporting"
    """Every protocol: adverse events are recorded in every trial."""
    weight_based_dose = "weight-based dose"
    """A dose computed from the participant's weight (read when the weight is queried)."""
    recorded_choice = "recorded choice"
    """No engine reads it: it records a choice the protocol's text relies on."""


@dataclass(frozen=True)
class SettingSpec:
    """One setting of the format: its name, value kind, unit and what needs it."""

    name: str
    kind: ValueKind
    unit: str | None
    meaning: str
    feature: Feature
    default: SettingValue | None = None
    """Used when the file leaves the setting out (documented with the setting)."""
    required: bool = True
    """Whether the feature needs it (a protocol using the feature without it fails to load,
    unless a default is given); an optional one changes nothing when left out."""
    minimum: float | None = None
    maximum: float | None = None

    def value(self, protocol: Protocol) -> SettingValue | None:
        """The file's value, else the default; None for an optional setting left out. A
        required one missing is a `ProtocolError` naming it (the loader refuses such a file;
        this guards protocols built in code)."""
        found = protocol.settings.get(self.name)
        if found is not None:
            return found.value
        if self.default is not None or not self.required:
            return self.default
        raise ProtocolError(
            f"protocol {protocol.protocol_id} has no setting '{self.name}' ({self.meaning}), "
            f"which its {self.feature.value} needs: add it under `settings`"
        )

    def number(self, protocol: Protocol) -> float:
        value = self.value(protocol)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(f"setting '{self.name}' is not a number: {value!r}")
        return float(value)

    def text(self, protocol: Protocol) -> str:
        value = self.value(protocol)
        if not isinstance(value, str):
            raise ProtocolError(f"setting '{self.name}' is not text: {value!r}")
        return value

    def describe_unit(self) -> str:
        return f"unit `{self.unit}`" if self.unit else "no unit"


TRANSFER_THICKNESS_MIN_MM = SettingSpec(
    "transfer_thickness_min_mm", "number", "mm",
    "minimal endometrial thickness to start progesterone and transfer; a transfer after a "
    "thinner scan opens a query", Feature.embryo_transfer, minimum=1, maximum=20,
)  # fmt: skip
GOOD_BLASTOCYST_MIN_EXPANSION = SettingSpec(
    "good_blastocyst_min_expansion", "integer", None,
    "Gardner expansion (1-6) at or above which a blastocyst can be good quality",
    Feature.embryo_transfer, minimum=1, maximum=6,
)  # fmt: skip
GOOD_BLASTOCYST_ICM_GRADES = SettingSpec(
    "good_blastocyst_icm_grades", "grades", None,
    "inner-cell-mass grades (letters of ABC) accepted for a good-quality blastocyst",
    Feature.embryo_transfer,
)  # fmt: skip
GOOD_BLASTOCYST_TE_GRADES = SettingSpec(
    "good_blastocyst_te_grades", "grades", None,
    "trophectoderm grades (letters of ABC) accepted for a good-quality blastocyst",
    Feature.embryo_transfer,
)  # fmt: skip
BETA_HCG_POSITIVE_MIU_ML = SettingSpec(
    "beta_hcg_positive_miu_ml", "number", "mIU/mL",
    "serum β-hCG above which the pregnancy test is positive", Feature.embryo_transfer,
    minimum=0, maximum=1000,
)  # fmt: skip
PREGNANCY_LOSS_BOUNDARY_WEEKS = SettingSpec(
    "pregnancy_loss_boundary_weeks", "number", "weeks",
    "completed weeks of gestation separating a miscarriage (before) from a birth (at or after)",
    Feature.embryo_transfer, minimum=20, maximum=28,
)  # fmt: skip
SERIOUS_AE_REPORT_HOURS = SettingSpec(
    "serious_ae_report_hours", "number", "hours",
    "time after onset within which a serious adverse event is reported (expedited); "
    "default 24 h, the usual GCP term for a site's report to the sponsor",
    Feature.adverse_events, default=24, minimum=1, maximum=24 * 15,
)  # fmt: skip
WEIGHT_CHANGE_QUERY_PCT = SettingSpec(
    "weight_change_query_pct", "number", "%",
    "change of body weight between screening and the dose above which the weight used for "
    "the dose is queried; left out, no such query", Feature.weight_based_dose,
    required=False, minimum=0, maximum=100,
)  # fmt: skip
RECURRENT_MISCARRIAGE_MIN_LOSSES = SettingSpec(
    "recurrent_miscarriage_min_losses", "integer", None,
    "pregnancy losses that make a history of recurrent miscarriage (criteria text)",
    Feature.recorded_choice, required=False, minimum=1, maximum=10,
)  # fmt: skip
IUA_SEVERITY_SCALE = SettingSpec(
    "iua_severity_scale", "text", None,
    "the scale intrauterine-adhesion severity is graded on (criteria text)",
    Feature.recorded_choice, required=False,
)  # fmt: skip

#: Every setting of the format, by name.
SETTINGS: dict[str, SettingSpec] = {
    spec.name: spec
    for spec in (
        TRANSFER_THICKNESS_MIN_MM,
        GOOD_BLASTOCYST_MIN_EXPANSION,
        GOOD_BLASTOCYST_ICM_GRADES,
        GOOD_BLASTOCYST_TE_GRADES,
        BETA_HCG_POSITIVE_MIU_ML,
        PREGNANCY_LOSS_BOUNDARY_WEEKS,
        SERIOUS_AE_REPORT_HOURS,
        WEIGHT_CHANGE_QUERY_PCT,
        RECURRENT_MISCARRIAGE_MIN_LOSSES,
        IUA_SEVERITY_SCALE,
    )
}


def features_used(protocol: Protocol) -> set[Feature]:
    """The features of `protocol` that settings serve."""
    used = {Feature.adverse_events, Feature.recorded_choice, Feature.weight_based_dose}
    if any(e.role == EventRole.embryo_transfer for e in protocol.schedule):
        used.add(Feature.embryo_transfer)
    return used


def setting_problems(protocol: Protocol) -> Iterator[Problem]:
    """Each setting known, of its kind, range and unit; each one a used feature needs given."""
    for name, setting in protocol.settings.items():
        spec = SETTINGS.get(name)
        if spec is None:
            yield (
                ("settings", name),
                (
                    f"'{name}' is not a setting of the protocol format (known: "
                    f"{sorted(SETTINGS)}); correct its name, or remove it (docs/protocol-file.md "
                    "lists the settings)"
                ),
            )
            continue
        yield from _value_problems(spec, setting)
    used = features_used(protocol)
    for spec in SETTINGS.values():
        needed = spec.required and spec.default is None and spec.feature in used
        if needed and spec.name not in protocol.settings:
            yield (
                ("settings",),
                (
                    f"'{spec.name}' is missing: the protocol has an {spec.feature.value}, which "
                    f"needs it ({spec.meaning}; {spec.describe_unit()}); add it under `settings`"
                ),
            )


def _value_problems(spec: SettingSpec, setting: Setting) -> Iterator[Problem]:
    where: tuple[str | int, ...] = ("settings", spec.name)
    value = setting.value
    wrong = _kind_problem(spec.kind, value)
    if wrong:
        yield (*where, "value"), f"{spec.name}: {wrong}"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        low = -math.inf if spec.minimum is None else spec.minimum
        high = math.inf if spec.maximum is None else spec.maximum
        if not low <= value <= high:
            unit = f" {spec.unit}" if spec.unit else ""
            message = f"{spec.name}: {value:g} is outside {low:g}-{high:g}{unit}"
            yield (*where, "value"), message
    if setting.unit != spec.unit:
        given = f"`{setting.unit}`" if setting.unit else "no unit"
        yield (
            (*where, "unit"),
            (
                f"{spec.name} is given with {given}; the format reads it in {spec.describe_unit()}"
                + (f": write `unit: {spec.unit}` and the value in {spec.unit}" if spec.unit else "")
            ),
        )


def _kind_problem(kind: ValueKind, value: SettingValue) -> str | None:
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{value!r} is not a number"
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{value!r} is not a whole number"
    if kind == "text" and not isinstance(value, str):
        return f"{value!r} is not text"
    if kind == "grades" and (not isinstance(value, str) or not value or set(value) - set("ABC")):
        return f"{value!r} is not a set of grade letters from A, B, C (e.g. AB)"
    return None
