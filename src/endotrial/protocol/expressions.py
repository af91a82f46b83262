"""The protocol's expression language: a boolean SQL expression over named data items.

Expressions are parsed with sqlglot and checked node by node against an allow-list, so an expression
can only read the candidate's own items, call a few pure functions and must yield true/false (or
UNKNOWN when an item is missing: SQL's three-valued logic). Nothing here evaluates user text.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from endotrial.protocol.models import DataItem, ItemType

DIALECT = "duckdb"

# The small type system of expressions.
NUMBER, BOOLEAN, DATE, STRING, INTERVAL, NULL = (
    "number",
    "boolean",
    "date",
    "text",
    "interval",
    "null",
)
ITEM_VALUE_TYPES = {
    ItemType.number: NUMBER,
    ItemType.integer: NUMBER,
    ItemType.boolean: BOOLEAN,
    ItemType.date: DATE,
    ItemType.category: STRING,
}
"""The expression type each kind of data item has when an expression reads it."""
_INTERVAL_UNITS = {"DAY", "WEEK", "MONTH", "YEAR"}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_DATE_PARTS = (exp.Year, exp.Month, exp.Day)
_NULL_SENSITIVE = (
    exp.Is,
    exp.Coalesce,
    exp.Greatest,
    exp.Least,
    exp.Nullif,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
)
"""Constructs that read a NULL as a value (IS [NOT] NULL, COALESCE/IFNULL/NVL, GREATEST and
LEAST, which skip NULLs, IS [NOT] DISTINCT FROM, NULLIF) instead of passing it on as UNKNOWN."""
_READS_TABLE = "reads a table or runs a query: a criterion may only read the candidate's data items"
ALLOWED_FUNCTIONS = "YEAR, MONTH, DAY, ROUND, ABS, COALESCE, GREATEST, LEAST, CAST"


class ExpressionError(ValueError):
    """An expression is not a valid criterion; the message says why and what to write instead."""


@dataclass(frozen=True)
class CheckedExpression:
    sql: str
    items: tuple[str, ...]
    tree: exp.Expression

    def to_dialect(self, dialect: str) -> str:
        """The same expression in another SQL dialect (PostgreSQL, Spark, BigQuery...)."""
        return self.tree.sql(dialect=dialect)


def check_expression(
    text: str, items: Mapping[str, DataItem], *, want: str = BOOLEAN
) -> CheckedExpression:
    """Parse `text` and check it reads only known items and yields `want`."""
    try:
        statements = sqlglot.parse(text, dialect=DIALECT)
    except (ParseError, TokenError) as error:
        raise ExpressionError(f"not valid SQL: {error}") from None
    if len(statements) != 1 or statements[0] is None:
        raise ExpressionError("write exactly one expression (no ';' or several statements)")
    tree = cast(exp.Expression, statements[0])
    if tree.find(exp.Query, exp.Subquery, exp.Table) is not None:
        raise ExpressionError(_READS_TABLE)
    found = _TypeChecker(items).type_of(tree)
    if want == BOOLEAN and found != BOOLEAN:
        raise ExpressionError(
            f"gives a {found}, not true/false: a criterion must be a condition "
            "such as `age_years BETWEEN 20 AND 38`"
        )
    if want != BOOLEAN and found not in (want, NULL):
        raise ExpressionError(f"gives a {found}, but the item is a {want}")
    used = sorted({c.name for c in tree.find_all(exp.Column)})
    return CheckedExpression(sql=tree.sql(dialect=DIALECT), items=tuple(used), tree=tree)


def null_tested_items(tree: exp.Expression) -> tuple[str, ...]:
    """The items whose NULL the expression reads as a value rather than as UNKNOWN: those under
    IS [NOT] NULL, COALESCE, GREATEST/LEAST, IS [NOT] DISTINCT FROM or NULLIF, and those in a CASE
    operand or WHEN/IF condition (a NULL condition takes the next branch, as if it were false).
    Elsewhere a NULL item gives SQL's three-valued answer: TRUE or FALSE only when every value
    of the item would give it."""
    tested: set[str] = set()
    for node in tree.walk():
        parts: list[exp.Expression] = []
        if isinstance(node, _NULL_SENSITIVE):
            parts = [node]
        elif isinstance(node, exp.Case | exp.If) and node.this is not None:
            parts = [node.this]  # a simple CASE's operand, or a WHEN / IF condition
        for part in parts:
            tested.update(column.name for column in part.find_all(exp.Column))
    return tuple(sorted(tested))


def _left(node: exp.Expression) -> exp.Expression:
    return cast(exp.Expression, node.args["this"])


def _right(node: exp.Expression) -> exp.Expression:
    return cast(exp.Expression, node.args["expression"])


class _TypeChecker:
    """Infers the type of each node, refusing any node outside the allow-list."""

    def __init__(self, items: Mapping[str, DataItem]) -> None:
        self.items = items
        self.rules: dict[type[exp.Expression], Callable[[exp.Expression], str]] = {
            exp.Column: self._column,
            exp.Literal: lambda n: STRING if n.is_string else NUMBER,
            exp.Boolean: lambda n: BOOLEAN,
            exp.Null: lambda n: NULL,
            exp.Paren: lambda n: self.type_of(n.this),
            exp.Neg: lambda n: self._expect(n.this, NUMBER),
            exp.Add: self._plus_minus,
            exp.Sub: self._plus_minus,
            exp.Mul: self._arithmetic,
            exp.Div: self._arithmetic,
            exp.Mod: self._arithmetic,
            exp.Interval: self._interval,
            exp.And: self._logical,
            exp.Or: self._logical,
            exp.Not: lambda n: self._expect(n.this, BOOLEAN),
            exp.Is: self._is,
            exp.Between: self._between,
            exp.In: self._in,
            exp.Case: self._case,
            exp.Cast: self._cast,
            exp.Round: lambda n: self._expect(n.this, NUMBER),
            exp.Abs: lambda n: self._expect(n.this, NUMBER),
            exp.Coalesce: self._same_type_args,
            exp.Greatest: self._same_type_args,
            exp.Least: self._same_type_args,
        }
        for comparison in _COMPARISONS:
            self.rules[comparison] = self._comparison
        for part in _DATE_PARTS:
            self.rules[part] = lambda n: self._expect(n.this, DATE, result=NUMBER)

    def type_of(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Query | exp.Subquery | exp.Table):
            raise ExpressionError(_READS_TABLE)
        rule = self.rules.get(type(node))
        if rule is None:
            raise ExpressionError(
                f"`{node.sql(dialect=DIALECT)}` is not allowed in a criterion: use data items, "
                f"literals, comparisons, AND/OR/NOT, CASE and the functions {ALLOWED_FUNCTIONS}"
            )
        return rule(node)

    def _expect(self, node: exp.Expression, wanted: str, result: str | None = None) -> str:
        found = self.type_of(node)
        if found not in (wanted, NULL):
            raise ExpressionError(
                f"`{node.sql(dialect=DIALECT)}` is a {found} where a {wanted} is needed"
            )
        return result or wanted

    def _column(self, node: exp.Expression) -> str:
        assert isinstance(node, exp.Column)
        if node.table:
            raise ExpressionError(
                f"`{node.sql()}` reads a table: name the data item alone, e.g. `{node.name}`"
            )
        item = self.items.get(node.name)
        if item is None:
            close = difflib.get_close_matches(node.name, list(self.items), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ExpressionError(
                f"unknown data item `{node.name}`{hint}: declare it under data_items first"
            )
        return ITEM_VALUE_TYPES[item.type]

    def _plus_minus(self, node: exp.Expression) -> str:
        left, right = self.type_of(_left(node)), self.type_of(_right(node))
        if left == DATE and right == INTERVAL:
            return DATE
        if left == INTERVAL and right == DATE and isinstance(node, exp.Add):
            return DATE
        if left == DATE and right == DATE and isinstance(node, exp.Sub):
            return NUMBER
        return self._arithmetic(node)

    def _arithmetic(self, node: exp.Expression) -> str:
        self._expect(_left(node), NUMBER)
        self._expect(_right(node), NUMBER)
        return NUMBER

    def _interval(self, node: exp.Expression) -> str:
        unit_node = node.args.get("unit")
        unit = unit_node.name.upper() if unit_node is not None else ""
        if unit.rstrip("S") not in _INTERVAL_UNITS:
            raise ExpressionError(f"interval unit `{unit}` is not one of DAY, WEEK, MONTH, YEAR")
        if not isinstance(node.this, exp.Literal):
            raise ExpressionError("an interval's length must be a number, e.g. INTERVAL 6 MONTH")
        return INTERVAL

    def _logical(self, node: exp.Expression) -> str:
        self._expect(_left(node), BOOLEAN)
        self._expect(_right(node), BOOLEAN)
        return BOOLEAN

    def _is(self, node: exp.Expression) -> str:
        self.type_of(node.this)
        return BOOLEAN

    def _comparison(self, node: exp.Expression) -> str:
        self._compatible(_left(node), _right(node))
        return BOOLEAN

    def _between(self, node: exp.Expression) -> str:
        self._compatible(node.this, node.args["low"])
        self._compatible(node.this, node.args["high"])
        return BOOLEAN

    def _in(self, node: exp.Expression) -> str:
        if node.args.get("query") is not None:
            raise ExpressionError("IN (SELECT ...) reads a table: list the values instead")
        for value in node.expressions:
            self._compatible(node.this, value)
        return BOOLEAN

    def _case(self, node: exp.Expression) -> str:
        branches = [branch.args["true"] for branch in node.args.get("ifs", [])]
        for branch in node.args.get("ifs", []):
            self._expect(branch.this, BOOLEAN)
        if node.args.get("default") is not None:
            branches.append(node.args["default"])
        return self._common_type(branches)

    def _cast(self, node: exp.Expression) -> str:
        self.type_of(node.this)
        target = node.args["to"]
        if target.is_type(*exp.DataType.NUMERIC_TYPES):
            return NUMBER
        if target.is_type(exp.DataType.Type.DATE):
            return DATE
        if target.is_type(exp.DataType.Type.BOOLEAN):
            return BOOLEAN
        if target.is_type(*exp.DataType.TEXT_TYPES):
            return STRING
        raise ExpressionError(f"CAST to {target.sql()} is not supported")

    def _same_type_args(self, node: exp.Expression) -> str:
        return self._common_type([node.this, *node.expressions])

    def _common_type(self, nodes: list[exp.Expression]) -> str:
        types = {self.type_of(n) for n in nodes} - {NULL}
        if len(types) > 1:
            raise ExpressionError(f"mixes types {sorted(types)} in one value")
        return types.pop() if types else NULL

    def _compatible(self, left: exp.Expression, right: exp.Expression) -> None:
        left_type, right_type = self.type_of(left), self.type_of(right)
        if NULL in (left_type, right_type):
            raise ExpressionError("comparing with NULL is always UNKNOWN: write `IS NULL` instead")
        if left_type != right_type:
            raise ExpressionError(
                f"compares a {left_type} (`{left.sql(dialect=DIALECT)}`) with a {right_type} "
                f"(`{right.sql(dialect=DIALECT)}`)"
            )
        for column, literal in ((left, right), (right, left)):
            self._check_category_value(column, literal)

    def _check_category_value(self, column: exp.Expression, literal: exp.Expression) -> None:
        if not (isinstance(column, exp.Column) and isinstance(literal, exp.Literal)):
            return
        item = self.items[column.name]
        if item.values is not None and literal.this not in item.values:
            raise ExpressionError(
                f"`{item.name}` is never '{literal.this}': its values are {item.values}"
            )
