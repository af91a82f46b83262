"""Every node of every expression is checked against the allow-list (issue 6, finding 5), and
an expression nested or chained past the limits is a ProtocolError, never a RecursionError
(finding 11)."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.errors import ProtocolError
from endotrial.protocol import bundled_protocol_files, load_protocol_file
from endotrial.protocol.expressions import (
    MAX_EXPRESSION_CHARS,
    MAX_NESTING_LEVELS,
    MAX_TREE_DEPTH,
    ExpressionError,
    check_expression,
)
from endotrial.protocol.models import Protocol

SEED_FILE = bundled_protocol_files()["nct07176143"]


def _seed_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "protocol.yaml"
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100_000)
    path.write_text(text, encoding="utf-8")
    return path


def _with_criterion(tmp_path: Path, expression: str, criterion_id: str = "I2") -> Path:
    data = _seed_data()
    next(c for c in data["criteria"] if c["id"] == criterion_id)["expression"] = expression
    return _write(tmp_path, data)


def _with_derived_age(tmp_path: Path, formula: str) -> Path:
    data = _seed_data()
    next(i for i in data["data_items"] if i["name"] == "age_years")["derived"] = formula
    return _write(tmp_path, data)


def _refusal(path: Path) -> str:
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    return str(caught.value)


@pytest.fixture(scope="module")
def items(seed_protocol: Protocol) -> dict[str, Any]:
    return {item.name: item for item in seed_protocol.data_items}


# A "time bomb" (a criterion that fails everyone after a date) and other functions outside the
# allow-list, hidden where the checker used not to look.
HIDDEN_FUNCTIONS = [
    "CASE now() > TIMESTAMP '2026-06-01' WHEN TRUE THEN FALSE ELSE age_years BETWEEN 20 AND 38 END",
    "CASE random() < 0.5 WHEN TRUE THEN FALSE ELSE age_years BETWEEN 20 AND 38 END",
    "CASE current_setting('threads') WHEN '1' THEN FALSE ELSE age_years BETWEEN 20 AND 38 END",
    "ROUND(age_years, random() * 0) BETWEEN 20 AND 38",
    "ROUND(age_years, length(current_setting('memory_limit')) - 9) BETWEEN 20 AND 38",
    "ROUND(age_years, length(repeat('x', 100000000)) * 0) BETWEEN 20 AND 38",
    "ROUND(age_years, epoch(now()) * 0) BETWEEN 20 AND 38",
]


@pytest.mark.parametrize("expression", HIDDEN_FUNCTIONS)
def test_a_function_hidden_in_a_criterion_is_refused(tmp_path: Path, expression: str) -> None:
    message = _refusal(_with_criterion(tmp_path, expression))
    assert "criteria[1].expression: criterion I2: `" in message
    assert "is not allowed in a criterion" in message


@pytest.mark.parametrize(
    "formula",
    [
        "CASE now() > TIMESTAMP '2026-06-01' WHEN TRUE THEN 99 ELSE 30 END",
        "ROUND(30.4, random() * 0)",
        "ROUND(30.4, length(current_setting('threads')) - 1)",
        "ROUND(30.4, length(repeat('x', 1000)) * 0)",
    ],
)
def test_a_function_hidden_in_a_derived_item_is_refused(tmp_path: Path, formula: str) -> None:
    message = _refusal(_with_derived_age(tmp_path, formula))
    assert "derived item age_years: `" in message
    assert "is not allowed in a criterion" in message


@pytest.mark.parametrize(
    "expression",
    [
        "hydrosalpinx IS random() < 0.5",
        "age_years IN (20, 30, random())",
        "age_years BETWEEN 20 AND length(repeat('x', 38))",
        "COALESCE(age_years, now()) > 20",
        "CAST(age_years AS DECIMAL(10, 2)) BETWEEN 20 AND random()",
    ],
)
def test_every_argument_slot_is_checked(items: dict[str, Any], expression: str) -> None:
    with pytest.raises(ExpressionError):
        check_expression(expression, items)


@pytest.mark.parametrize("expression", ["@", "@ age_years > 20 OR @"])
def test_an_operator_missing_its_operand_is_a_protocol_error(
    tmp_path: Path, expression: str
) -> None:
    """DuckDB's `@` is ABS; alone, sqlglot leaves its operand out (an AttributeError once)."""
    message = _refusal(_with_criterion(tmp_path, expression))
    assert "criterion I2: an operator or function is missing its operand" in message


def test_a_simple_case_compares_its_values_with_the_operand(items: dict[str, Any]) -> None:
    """`CASE item WHEN value THEN ...` is standard SQL: its values are typed against the
    operand (a category against its values), not taken as conditions."""
    checked = check_expression(
        "CASE sex WHEN 'F' THEN age_years BETWEEN 20 AND 38 ELSE FALSE END", items
    )
    assert checked.items == ("age_years", "sex")
    score = "CASE hiv_ab WHEN 'negative' THEN 0 WHEN 'positive' THEN 4 END"
    assert check_expression(f"{score} < 4", items).items == ("hiv_ab",)
    with pytest.raises(ExpressionError, match="`sex` is never 'X'"):
        check_expression("CASE sex WHEN 'X' THEN TRUE ELSE FALSE END", items)
    with pytest.raises(ExpressionError, match="compares a text"):
        check_expression("CASE sex WHEN 1 THEN TRUE ELSE FALSE END", items)
    with pytest.raises(ExpressionError, match="IS NULL"):
        check_expression("CASE sex WHEN NULL THEN TRUE ELSE FALSE END", items)


def test_a_simple_case_loads_in_a_protocol(tmp_path: Path) -> None:
    expression = "CASE sex WHEN 'F' THEN age_years BETWEEN 20 AND 38 ELSE FALSE END"
    protocol = load_protocol_file(_with_criterion(tmp_path, expression))
    assert next(c for c in protocol.criteria if c.id == "I2").expression == expression


def test_a_long_chain_is_typed_once_per_node(items: dict[str, Any]) -> None:
    """Each + typed its left side twice, so 30 terms took 2^30 steps (a hang at load)."""
    chain = " + ".join(["age_years"] * 30)
    assert check_expression(f"{chain} > 20", items).items == ("age_years",)


# Nested or chained past the limits: each must be a ProtocolError, not a RecursionError.
TOO_DEEP = [
    "(" * 5000 + "age_years BETWEEN 20 AND 38" + ")" * 5000,
    "(" * 300 + "age_years BETWEEN 20 AND 38" + ")" * 300,
    "(" * (MAX_NESTING_LEVELS + 1) + "age_years BETWEEN 20 AND 38" + ")" * (MAX_NESTING_LEVELS + 1),
    "NOT " * 5000 + "hydrosalpinx",
    "NOT " * 400 + "hydrosalpinx",
    "NOT (" * 200 + "hydrosalpinx" + ")" * 200,
    "- " * 900 + "age_years > 20",
    "COALESCE(" * 150 + "age_years" + ")" * 150 + " > 20",
    "CASE WHEN " * 120 + "hydrosalpinx" + " THEN TRUE END" * 120,
    " AND ".join(["age_years > 20"] * 5000),
    " AND ".join(["hydrosalpinx"] * 120),
    " + ".join(["age_years"] * 300) + " > 20",
    "age_years IN (" + "(" * 400 + "1" + ")" * 400 + ")",
]


@pytest.mark.parametrize("expression", TOO_DEEP, ids=lambda e: f"{e[:24]}...{len(e)}")
def test_an_expression_too_deep_or_long_is_a_protocol_error(
    tmp_path: Path, expression: str
) -> None:
    message = _refusal(_with_criterion(tmp_path, expression))
    assert "criteria[1].expression: criterion I2: " in message
    assert "nested too deeply" in message or f"at most {MAX_EXPRESSION_CHARS}" in message


def test_a_derived_item_too_deep_is_a_protocol_error(tmp_path: Path) -> None:
    message = _refusal(_with_derived_age(tmp_path, "(" * 3000 + "30" + ")" * 3000))
    assert "derived item age_years: " in message


def test_nesting_within_the_limits_loads(items: dict[str, Any]) -> None:
    levels = MAX_NESTING_LEVELS
    check_expression("(" * levels + "age_years BETWEEN 20 AND 38" + ")" * levels, items)
    check_expression("NOT (" * (levels // 2) + "hydrosalpinx" + ")" * (levels // 2), items)
    check_expression(" AND ".join(["hydrosalpinx"] * (MAX_TREE_DEPTH - 1)), items)
    flat = " AND ".join(["age_years IS NOT NULL"] * 40)  # NOTs side by side are not nested
    check_expression(flat, items)


def test_validate_reports_a_deep_expression_without_a_traceback(tmp_path: Path) -> None:
    path = _with_criterion(tmp_path, "(" * 5000 + "age_years BETWEEN 20 AND 38" + ")" * 5000)
    result = CliRunner().invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2
    assert "criterion I2" in result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
