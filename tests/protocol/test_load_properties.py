"""Property-based: the protocol loader, fed random and hostile YAML, lets only ProtocolError
escape, and nothing invalid loads (issue 6: the protocol-loader part of the hypothesis suite).

Inputs: random text; random mappings; the bundled seed with fields deleted, retyped, emptied,
swollen or duplicated; hostile YAML (anchors, tags, deep nesting, huge numbers) spliced in; and
criterion and derived-item expressions built from random tokens and function names, allowed
and not. Whatever loads is checked against an allow-list of its own (not the loader's).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from endotrial.errors import ProtocolError
from endotrial.protocol import bundled_protocol_files, load_protocol_file
from endotrial.protocol.expressions import ExpressionError, check_expression
from endotrial.protocol.models import Protocol

SEED_TEXT = bundled_protocol_files()["nct07176143"].read_text(encoding="utf-8")
SEED: dict[str, Any] = yaml.safe_load(SEED_TEXT)
ITEMS = [item["name"] for item in SEED["data_items"]]

SETTINGS = settings(
    deadline=None,
    database=None,  # no .hypothesis folder; each run draws afresh
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The oracle's own allow-list: the sqlglot nodes a criterion may contain.
ALLOWED_FUNCTIONS = (exp.Year, exp.Month, exp.Day, exp.Round, exp.Abs, exp.Coalesce)
ALLOWED_FUNCTIONS += (exp.Greatest, exp.Least, exp.Cast)
ALLOWED_OTHER = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Interval, exp.Var, exp.And, exp.Or,
    exp.Not, exp.Is, exp.Between, exp.In, exp.Case, exp.If, exp.DataType, exp.DataTypeParam,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
)  # fmt: skip
FORBIDDEN_FUNCTIONS = [
    "now", "random", "current_setting", "repeat", "read_csv", "read_text", "getenv", "length",
    "upper", "epoch", "range", "glob", "uuid", "nextval", "setseed", "current_date", "today",
    "pg_sleep", "version", "hash", "concat", "regexp_matches", "json_extract", "list_value",
]  # fmt: skip
ALLOWED_NAMES = ["YEAR", "MONTH", "DAY", "ROUND", "ABS", "COALESCE", "GREATEST", "LEAST"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def _load_text(folder: Path, text: str) -> Protocol | None:
    """Load `text` as a protocol file: the protocol, or None for a ProtocolError. Any other
    exception fails the test."""
    path = folder / "protocol.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        return load_protocol_file(path)
    except ProtocolError as error:
        assert str(error), "a ProtocolError must say what is wrong"
        return None


def _dump(data: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, about 10 times faster
    text: str = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=10**6)
    return text


def _assert_expressions_allowed(protocol: Protocol) -> None:
    """Nothing outside the allow-list in any expression that loaded."""
    formulas = [c.expression for c in protocol.criteria if c.expression is not None]
    formulas += [i.derived for i in protocol.data_items if i.derived is not None]
    for formula in formulas:
        tree = sqlglot.parse_one(formula, dialect="duckdb")
        for node in tree.walk():
            assert isinstance(node, ALLOWED_FUNCTIONS + ALLOWED_OTHER), (formula, node)
            assert not isinstance(node, exp.Column) or not node.table, formula
            if isinstance(node, exp.Column):
                assert node.name in ITEMS, formula


# --- random input -----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(SETTINGS, max_examples=150)
@given(text=st.text(max_size=400))
def test_random_text_only_gives_protocol_errors(folder: Path, text: str) -> None:
    assert _load_text(folder, text) is None


@settings(SETTINGS, max_examples=100)
@given(
    data=st.dictionaries(
        st.sampled_from(list(SEED)) | st.text(max_size=10), values, min_size=1, max_size=12
    )
)
def test_random_mappings_only_give_protocol_errors(folder: Path, data: dict[str, Any]) -> None:
    assert _load_text(folder, _dump(data)) is None


# --- the seed, mutated ------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


SEED_PATHS = list(_paths(SEED))


def _retyped(value: Any) -> Any:
    """The same content in another YAML type."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


def _mutate(data: dict[str, Any], path: tuple[Any, ...], operation: str, new: Any) -> None:
    parent: Any = data
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return  # an earlier mutation removed this path
    key = path[-1]
    if isinstance(parent, dict) != isinstance(key, str) or (
        isinstance(parent, list) and key >= len(parent)
    ):
        return
    if key not in (parent if isinstance(parent, dict) else range(len(parent))):
        return
    if operation == "delete":
        del parent[key]
    elif operation == "replace":
        parent[key] = new
    elif operation == "retype":
        parent[key] = _retyped(parent[key])
    elif operation == "empty":
        parent[key] = type(parent[key])() if isinstance(parent[key], list | dict | str) else None
    elif operation == "swell":
        parent[key] = "x" * 200_000 if isinstance(parent[key], str) else [parent[key]] * 2000
    elif operation == "repeat" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))


mutations = st.lists(
    st.tuples(
        st.sampled_from(SEED_PATHS),
        st.sampled_from(["delete", "replace", "retype", "empty", "swell", "repeat"]),
        values,
    ),
    min_size=1,
    max_size=4,
)


@settings(SETTINGS, max_examples=60)
@given(changes=mutations)
def test_a_mutated_seed_gives_a_protocol_or_a_protocol_error(
    folder: Path, changes: list[tuple[tuple[Any, ...], str, Any]]
) -> None:
    data = copy.deepcopy(SEED)
    for path, operation, new in changes:
        _mutate(data, path, operation, new)
    protocol = _load_text(folder, _dump(data))
    if protocol is not None:
        _assert_expressions_allowed(protocol)
        assert any(c.kind == "inclusion" for c in protocol.criteria)


# A line `key: value` whose value sits on the same line (no block below it).
_SIMPLE_LINE = re.compile(r"^( *)([a-z_]+): ([^>|&*!{\[#].*)$")
SEED_LINES = SEED_TEXT.splitlines()


def _has_block_below(index: int) -> bool:
    line = SEED_LINES[index]
    indent = line[: len(line) - len(line.lstrip())]
    return index + 1 < len(SEED_LINES) and SEED_LINES[index + 1].startswith(indent + " ")


def _in_flow(index: int) -> bool:
    return SEED_LINES[index - 1].rstrip().endswith(",") or "}" in SEED_LINES[index]


DUPLICABLE = [
    i
    for i, line in enumerate(SEED_LINES)
    if _SIMPLE_LINE.match(line) and not _has_block_below(i) and not _in_flow(i)
]


@settings(SETTINGS, max_examples=40)
@given(index=st.sampled_from(DUPLICABLE), new=st.sampled_from(["0", "1.0e7", "x", "[]", "''"]))
def test_a_key_given_twice_never_loads(folder: Path, index: int, new: str) -> None:
    indent, key = _SIMPLE_LINE.match(SEED_LINES[index]).group(1, 2)  # type: ignore[union-attr]
    lines = [*SEED_LINES[: index + 1], f"{indent}{key}: {new}", *SEED_LINES[index + 1 :]]
    path = folder / "protocol.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=f"key '{key}' is given twice"):
        load_protocol_file(path)


HOSTILE_FRAGMENTS = [
    "&a [1, 2]",
    "*a",
    "&a [*a]",
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!timestamp 2025-02-30",
    "!custom x",
    "1" * 5000,
    "0x" + "f" * 5000,
    "[" * 300 + "]" * 300,
    "{a: " * 100 + "1" + "}" * 100,
    "'" + "x" * 100_000 + "'",
    ".nan",
    "-.inf",
    "9999-12-31",
    "0001-01-01",
    "2025-02-30",
    "1e999",
    "~",
    '"\\0\\x07"',
    "\t",
]


@settings(SETTINGS, max_examples=60)
@given(
    path=st.sampled_from([p for p in SEED_PATHS if isinstance(p[-1], str)]),
    fragment=st.sampled_from(HOSTILE_FRAGMENTS),
    also_at_end=st.booleans(),
)
def test_hostile_yaml_spliced_into_the_seed(
    folder: Path, path: tuple[Any, ...], fragment: str, also_at_end: bool
) -> None:
    marker = "__HOSTILE__"
    data = copy.deepcopy(SEED)
    _mutate(data, path, "replace", marker)
    text = _dump(data).replace(f"'{marker}'", fragment).replace(marker, fragment)
    if also_at_end:
        text += f"extra: {fragment}\n"
    protocol = _load_text(folder, text)
    if protocol is not None:
        _assert_expressions_allowed(protocol)


# --- expressions ------------------------------------------------------------------------------

TOKENS = [
    *ITEMS,
    *(f"{name}(" for name in [*ALLOWED_NAMES, *FORBIDDEN_FUNCTIONS]),
    "CAST(", "AS", "INT", "DATE", "VARCHAR", "0", "1", "20", "38.5", "-1", "1e308", "'F'",
    "'negative'", "'x'", "NULL", "TRUE", "FALSE", "DATE '2025-01-01'", "TIMESTAMP '2026-01-01'",
    "INTERVAL 6 MONTH", "INTERVAL 1 DAY", "(", ")", ",", "+", "-", "*", "/", "%", "=", "<>",
    "<", "<=", ">", ">=", "AND", "OR", "NOT", "IS", "IN", "BETWEEN", "CASE", "WHEN", "THEN",
    "ELSE", "END", "::INT", "||", ";", "[", "]", "{", "}", "?", "$1", ".", "SELECT", "FROM",
    "candidates", "DISTINCT", "LIKE", "->", "@", "EXISTS", "NULLIF(", "IFNULL(", "IF(",
]  # fmt: skip
token_expressions = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=40).map(" ".join)


def _call(name: str, args: list[str]) -> str:
    return f"{name}({', '.join(args)})"


leaves = st.sampled_from([*ITEMS, "1", "20", "'F'", "NULL", "TRUE", "DATE '2025-01-01'"])
built_expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(TOKENS[-40:-20]), inner),
        st.builds(
            _call,
            st.sampled_from([*ALLOWED_NAMES, *FORBIDDEN_FUNCTIONS]),
            st.lists(inner, min_size=1, max_size=3),
        ),
        st.builds(lambda a: f"NOT ({a})", inner),
        st.builds(lambda a, b, c: f"CASE {a} WHEN {b} THEN {c} ELSE {c} END", inner, inner, inner),
        st.builds(lambda a, b: f"CASE WHEN {a} THEN {b} END", inner, inner),
        st.builds(lambda a, b: f"ROUND({a}, {b})", inner, inner),
        st.builds(lambda a, b, c: f"{a} BETWEEN {b} AND {c}", inner, inner, inner),
        st.builds(lambda a, b: f"{a} IN ({b})", inner, inner),
        st.builds(lambda a: f"{a} IS NOT NULL", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=12,
)
any_expression = token_expressions | built_expressions


def _allowed_only(expression: str) -> None:
    tree = sqlglot.parse_one(expression, dialect="duckdb")
    for node in tree.walk():
        assert isinstance(node, ALLOWED_FUNCTIONS + ALLOWED_OTHER), (expression, node)


@settings(SETTINGS, max_examples=400)
@given(expression=any_expression)
def test_an_expression_that_checks_holds_only_allowed_nodes(expression: str) -> None:
    items = {item.name: item for item in _seed_protocol().data_items}
    try:
        check_expression(expression, items)
    except ExpressionError:
        return
    _allowed_only(expression)


@settings(SETTINGS, max_examples=40)
@given(expression=any_expression, as_derived=st.booleans())
def test_a_random_expression_in_a_protocol_file(
    folder: Path, expression: str, as_derived: bool
) -> None:
    data = copy.deepcopy(SEED)
    if as_derived:
        next(i for i in data["data_items"] if i["name"] == "age_years")["derived"] = expression
    else:
        next(c for c in data["criteria"] if c["id"] == "I2")["expression"] = expression
    protocol = _load_text(folder, _dump(data))
    if protocol is not None:
        _assert_expressions_allowed(protocol)


_SEED_PROTOCOL: list[Protocol] = []


def _seed_protocol() -> Protocol:
    if not _SEED_PROTOCOL:
        _SEED_PROTOCOL.append(load_protocol_file(bundled_protocol_files()["nct07176143"]))
    return _SEED_PROTOCOL[0]
