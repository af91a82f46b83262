"""`endotrial stats compare-proportions` and `endotrial power` as a user runs them."""

import json

from typer.testing import CliRunner

from endotrial.cli import app

runner = CliRunner()


def test_compare_proportions_prints_every_interval_and_test() -> None:
    args = ["stats", "compare-proportions", "--events", "56", "48", "--totals", "70", "80"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # Newcombe (1998) Table II example (a): method 10 0.0524 to 0.3339, MN 0.0528 to 0.3382.
    assert "0.2000 (95% CI 0.0524 to 0.3339) [Newcombe hybrid score" in result.output
    assert "0.2000 (95% CI 0.0528 to 0.3382) [Miettinen-Nurminen score]" in result.output
    for method in ("Clopper-Pearson", "Wilson", "Katz log", "Woolf logit", "Fisher", "Boschloo"):
        assert method in result.output


def test_compare_proportions_json_and_confidence() -> None:
    args = ["stats", "compare-proportions", "--events", "0", "15", "--totals", "16", "72"]
    result = runner.invoke(app, [*args, "--json", "--confidence", "0.9", "--labels", "a", "b"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert {item["confidence"] for item in items if item["confidence"]} == {0.9}
    fisher = next(i for i in items if i["method"].startswith("Fisher"))
    assert fisher["estimate"] == 0.0 and fisher["quantity"].startswith("odds ratio a : b")


def test_compare_proportions_refuses_bad_counts_without_a_traceback() -> None:
    args = ["stats", "compare-proportions", "--events", "3", "2", "--totals", "0", "10"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "group A: total is 0" in result.output
    assert "Traceback" not in result.output


def test_power_for_n_and_n_for_power() -> None:
    # R ?power.prop.test: power.prop.test(n = 50, p1 = .50, p2 = .75) => power = 0.740.
    result = runner.invoke(app, ["power", "--p1", "0.5", "--p2", "0.75", "--n", "50"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("power: 0.7402")
    # R: power.prop.test(p1 = .50, p2 = .75, power = .90) => n = 76.7, so 77 per group.
    result = runner.invoke(app, ["power", "--p1", "0.5", "--p2", "0.75", "--power", "0.9"])
    assert result.exit_code == 0, result.output
    assert "sample size per group: 77.0000" in result.output


def test_power_exact_adds_fisher_and_boschloo() -> None:
    args = ["power", "--p1", "0.25", "--p2", "0.55", "--n", "30", "--exact", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    methods = [item["method"] for item in json.loads(result.output)]
    assert methods[1].startswith("Fisher's exact test, exact by enumeration")
    assert methods[2].startswith("Boschloo's test, exact by enumeration")


def test_power_needs_exactly_one_of_n_and_power() -> None:
    result = runner.invoke(app, ["power", "--p1", "0.25", "--p2", "0.55"])
    assert result.exit_code == 2
    assert "give either --n" in result.output
    result = runner.invoke(app, ["power", "--p1", "1.5", "--p2", "0.55", "--n", "30"])
    assert result.exit_code == 2
    assert "p1 1.5 must be strictly between 0 and 1" in result.output
