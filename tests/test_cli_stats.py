"""`endotrial stats compare-proportions` and `endotrial power` as a user runs them."""

import json
from pathlib import Path

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


DEPRESSION_CSV = """id,first,second
1,1.83,0.878
2,0.50,0.647
3,1.62,0.598
4,2.48,2.05
5,1.68,1.06
6,1.88,1.29
7,1.55,1.06
8,3.06,3.14
9,1.30,1.29
10,,2.0
"""


def test_paired_change_matches_r_on_hollander_and_wolfe(tmp_path: Path) -> None:
    """R ?wilcox.test's example (Hollander & Wolfe 1973, p. 29): wilcox.test(y, x, paired =
    TRUE, conf.int = TRUE) p = 0.0391, CI -0.786 to -0.010, estimate -0.46; t.test(y, x,
    paired = TRUE): mean of the differences -0.4318889, 95% CI -0.7600 to -0.1037, p = 0.01618."""
    data = tmp_path / "depression.csv"
    data.write_text(DEPRESSION_CSV, encoding="utf-8")
    args = ["stats", "paired-change", str(data), "--before", "first", "--after", "second"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    t_test, wilcoxon = json.loads(result.output)
    assert round(t_test["estimate"], 4) == -0.4319 and round(t_test["p_value"], 4) == 0.0162
    assert (round(t_test["low"], 4), round(t_test["high"], 3)) == (-0.76, -0.104)
    assert round(wilcoxon["p_value"], 4) == 0.0391 and round(wilcoxon["estimate"], 3) == -0.46
    assert (round(wilcoxon["low"], 3), round(wilcoxon["high"], 3)) == (-0.786, -0.01)
    assert "1 incomplete pair(s) left out" in " ".join(t_test["notes"])


def test_paired_change_refuses_a_bad_file_naming_line_and_column(tmp_path: Path) -> None:
    data = tmp_path / "scan.csv"
    data.write_text("id,before,after\n1,6.1,7.0\n2,5.9,seven\n", encoding="utf-8")
    base = ["stats", "paired-change", str(data)]
    bad = runner.invoke(app, [*base, "--before", "before", "--after", "after"])
    assert bad.exit_code == 2 and "line 3, column 'after': 'seven' is not a number" in bad.output
    missing = runner.invoke(app, [*base, "--before", "baseline", "--after", "after"])
    assert missing.exit_code == 2 and "no column 'baseline'" in missing.output
    assert "id, before, after" in missing.output
    gone = runner.invoke(app, ["stats", "paired-change", str(tmp_path / "nope.csv"),
                               "--before", "a", "--after", "b"])  # fmt: skip
    assert gone.exit_code == 2 and "no such file" in gone.output
    for output in (bad.output, missing.output, gone.output):
        assert "Traceback" not in output
