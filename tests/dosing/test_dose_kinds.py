"""Issue 9, findings 1 and 2 in the protocol format, the engine, `protocol show` and
`endotrial dose`: a fixed dose beside the weight-based one, and a dose rule per arm chosen by
--arm or --rule (tests/fixtures/protocols/fixed_dose_groups.yaml, shaped like NCT05495711)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.dosing import compute_dose, render_dose_text
from endotrial.dosing.engine import arm_dose_rule, dose_choices, procedure_dose_rule
from endotrial.errors import InputError, ProtocolError
from endotrial.protocol import Protocol, load_protocol, load_protocol_file
from endotrial.protocol.models import DoseRule
from endotrial.protocol.summary import overview

GROUPS = Path(__file__).parents[1] / "fixtures" / "protocols" / "fixed_dose_groups.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def groups() -> Protocol:
    return load_protocol(GROUPS)


def _rule(**fields: Any) -> DoseRule:
    return DoseRule.model_validate({"id": "r", "product": "MSC", "volume_ml": 1, **fields})


def test_a_fixed_dose_is_the_same_cells_whatever_the_weight(groups: Protocol) -> None:
    low = groups.dose_rule("low_dose")
    assert low.kind == "fixed"
    plans = [compute_dose(low, weight) for weight in (None, 41.0, 130.0)]
    assert {plan.dose_viable_cells for plan in plans} == {1e7}
    assert plans[0].weight_kg is None and plans[0].cells_per_kg is None
    assert (plans[0].dose_min_viable_cells, plans[0].dose_max_viable_cells) == (9e6, 1.1e7)
    text = render_dose_text(plans[0])
    assert "fixed (the same cells whatever the weight)" in text
    assert "Weight" in text and "not needed" in text


def test_a_fixed_dose_with_a_weight_range_still_bounds_the_weight(groups: Protocol) -> None:
    high = groups.dose_rule("high_dose")
    assert compute_dose(high, 80).dose_viable_cells == 4e7
    with pytest.raises(InputError, match="40–80 kg"):
        compute_dose(high, 80.5)
    with pytest.raises(InputError, match="needs the body weight"):
        compute_dose(high, None)


def test_the_seed_rule_is_still_per_kg_with_its_doses(seed_protocol: Protocol) -> None:
    rule = seed_protocol.dose_rule()
    assert rule.kind == "per_kg"
    assert compute_dose(seed_protocol, 58).dose_viable_cells == 5.8e7
    assert compute_dose(seed_protocol, 90).dose_viable_cells == 9e7
    with pytest.raises(InputError, match="needs the body weight"):
        compute_dose(seed_protocol, None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cells": 2e7}, "write `kind: fixed`"),
        ({"kind": "fixed", "cells_per_kg": 1e6}, "gives `cells`"),
        ({"kind": "fixed", "cells": 2e7, "max_total_cells": 3e7}, "no cap"),
        ({"kind": "fixed", "cells": 2e7, "weight_min_kg": 40}, "both"),
        ({"kind": "per_kg", "cells_per_kg": 1e6}, "needs `cells_per_kg`, `weight_min_kg`"),
        ({"kind": "weekly", "cells": 2e7}, "per_kg"),
    ],
)
def test_a_rule_gives_the_fields_of_its_kind(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _rule(**fields)


def test_each_arm_has_its_dose_group(groups: Protocol) -> None:
    """The arm's rule before the procedure's; null: no cells (the vehicle control)."""
    assert procedure_dose_rule(groups, "low", "injection") == groups.dose_rule("low_dose")
    assert procedure_dose_rule(groups, "mid", "injection") == groups.dose_rule("mid_dose")
    assert procedure_dose_rule(groups, "vehicle", "injection") is None
    assert arm_dose_rule(groups, "vehicle") is None
    assert dose_choices(groups) == {
        "low": "low_dose",
        "mid": "mid_dose",
        "high": "high_dose",
        "vehicle": "no cells",
    }


def test_several_rules_and_none_chosen_lists_the_choices(groups: Protocol) -> None:
    """Before: "no dose rule 'None'"."""
    with pytest.raises(InputError) as caught:
        compute_dose(groups, 60)
    assert caught.value.code == "dose.choose_rule"
    message = str(caught.value)
    assert "'None'" not in message
    assert "--rule (low_dose, mid_dose, high_dose)" in message
    assert "--arm (low: low_dose, mid: mid_dose, high: high_dose, vehicle: no cells)" in message


def test_an_arm_naming_a_procedure_it_does_not_have_is_refused(tmp_path: Path) -> None:
    text = GROUPS.read_text(encoding="utf-8").replace(
        "dose_rules: {injection: low_dose}", "dose_rules: {infusion: low_dose}"
    )
    path = tmp_path / "stray.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"`dose_rules` names \['infusion'\]"):
        load_protocol_file(path)


def test_protocol_show_prints_the_fixed_doses_the_cap_and_the_vehicle(
    groups: Protocol, seed_protocol: Protocol
) -> None:
    """Before: a fixed dose (or the cap of the per-kg workaround) was never printed."""
    shown = overview(groups)
    assert "dose: fixed 1 × 10^7 cells whatever the weight, in 1 mL [rule low_dose]" in shown
    assert "dose: fixed 4 × 10^7 cells whatever the weight, in 1 mL (weight 40-80 kg)" in shown
    assert "dose: no cells" in shown
    assert "capped at 9 × 10^7 cells" in overview(seed_protocol)


def test_cli_dose_by_arm_or_rule() -> None:
    base = ["dose", "--protocol", str(GROUPS), "--json"]
    by_arm = runner.invoke(app, [*base, "--arm", "high", "--weight-kg", "60"])
    assert by_arm.exit_code == 0, by_arm.output
    assert json.loads(by_arm.output)["dose_viable_cells"] == 4e7
    by_rule = runner.invoke(app, [*base, "--rule", "low_dose"])
    assert by_rule.exit_code == 0, by_rule.output
    plan = json.loads(by_rule.output)
    assert (plan["kind"], plan["dose_viable_cells"], plan["weight_kg"]) == ("fixed", 1e7, None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "choose one with --rule (low_dose, mid_dose, high_dose) or an arm with --arm"),
        (["--arm", "vehicle"], "arm 'vehicle' of protocol test-fixed-dose-groups gives no cells"),
        (["--arm", "low", "--rule", "low_dose"], "give --arm or --rule, not both"),
        (["--rule", "huge"], "no dose rule 'huge': use one of"),
        (["--arm", "placebo"], "no arm 'placebo': use one of"),
    ],
)
def test_cli_dose_refuses_with_the_choices(options: list[str], message: str) -> None:
    result = runner.invoke(app, ["dose", "--protocol", str(GROUPS), *options])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "dose_rules: {injection: high_dose}",
            "dose_rules: {injection: huge_dose}",
            r"dose_rules.injection: names dose rule 'huge_dose', which the file does not define",
        ),
        ("    dose_rule: mid_dose", "    dose_rule: mid_dose\n    repeat_cycles: [main2]",
         r"procedures\[0\].repeat_cycles\[0\]: names cycle 'main2'"),
    ],
)  # fmt: skip
def test_a_dose_rule_or_repeat_cycle_the_file_lacks_is_refused_at_load(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = GROUPS.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "wrong.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ProtocolError, match=message):
        load_protocol_file(path)
