"""The protocol's expression language: a boolean SQL expression over named data items.

Expressions are parsed with sqlglot and checked node by node against an allow-list, so an expression
can only read the candidate's own items, call a few pure functions and must yield true/false (or
UNKNOWN when an item is missing: SQL's three-valued logic). Every node of the parsed tree must be
one the type checker visited (or a fixed part of one, such as a CAST's type), so an argument slot
the checker does not know (a new sqlglot field, a function's second argument) is refused, never
passed through. Length and nesting are bounded before parsing, since sqlglot's parser recurses
about twenty Python frames per bracket. Nothing here evaluates user text.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError

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

#: Longest expression text, in characters (the seed's longest is about 200).
MAX_EXPRESSION_CHARS = 2000
#: Deepest nesting of brackets, CASE and prefix NOT/minus, counted on the tokens before parsing:
#: sqlglot's parser needs about 25 Python frames per bracket, so this keeps a parse under
#: Python's recursion limit wherever it is called from.
MAX_NESTING_LEVELS = 12
#: Deepest parse tree (a chain of AND, OR or + counts one level per term): bounds the recursion
#: of the type checker and of SQL generation.
MAX_TREE_DEPTH = 64

_OPENERS = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE, TokenType.CASE}
_CLOSERS = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE, TokenType.END}
_PREFIX_SCOPE_ENDS = {
    TokenType.AND,
    TokenType.OR,
    TokenType.COMMA,
    TokenType.WHEN,
    TokenType.THEN,
    TokenType.ELSE,
}
_OPERAND_ENDS = {
    *_CLOSERS,
    TokenType.VAR,
    TokenType.NUMBER,
    TokenType.STRING,
    TokenType.IDENTIFIER,
    TokenType.NULL,
    TokenType.TRUE,
    TokenType.FALSE,
}
# Nodes that are fixed parts of an allowed node rather than values: (node, parent, argument).
_PARTS: set[tuple[type[exp.Expr], type[exp.Expr], str]] = {
    (exp.Identifier, exp.Column, "this"),
    (exp.If, exp.Case, "ifs"),
    (exp.DataType, exp.Cast, "to"),
    (exp.DataTypeParam, exp.DataType, "expressions"),
    (exp.Literal, exp.DataTypeParam, "this"),
    (exp.Var, exp.Interval, "unit"),
}


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
    tree = _parse(text)
    if tree.find(exp.Query, exp.Subquery, exp.Table) is not None:
        raise ExpressionError(_READS_TABLE)
    _check_depth(tree)
    checker = _TypeChecker(items)
    found = checker.type_of(tree)
    _check_every_node(tree, set(checker.types))
    if want == BOOLEAN and found != BOOLEAN:
        raise ExpressionError(
            f"gives a {found}, not true/false: a criterion must be a condition "
            "such as `age_years BETWEEN 20 AND 38`"
        )
    if want != BOOLEAN and found not in (want, NULL):
        raise ExpressionError(f"gives a {found}, but the item is a {want}")
    used = sorted({c.name for c in tree.find_all(exp.Column)})
    return CheckedExpression(sql=tree.sql(dialect=DIALECT), items=tuple(used), tree=tree)


def _parse(text: str) -> exp.Expression:
    """One expression, its size and nesting checked on the tokens before the parser recurses."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"is {len(text)} characters long; an expression may have at most "
            f"{MAX_EXPRESSION_CHARS}: split it into several criteria or derived items"
        )
    dialect = Dialect.get_or_raise(DIALECT)
    try:
        tokens = dialect.tokenize(text)
        if _nesting_levels(tokens) > MAX_NESTING_LEVELS:
            raise ExpressionError(
                _too_deep(f"{MAX_NESTING_LEVELS} levels of brackets, CASE and NOT")
            )
        statements = dialect.parser().parse(tokens, text)
    except (ParseError, TokenError) as error:
        raise ExpressionError(f"not valid SQL: {error}") from None
    except RecursionError:  # a backstop: the nesting limit above keeps parses far from it
        raise ExpressionError(_too_deep("what the parser can follow")) from None
    if len(statements) != 1 or statements[0] is None:
        raise ExpressionError("write exactly one expression (no ';' or several statements)")
    return cast(exp.Expression, statements[0])


def _too_deep(limit: str) -> str:
    return (
        f"is nested too deeply (more than {limit}): simplify it, move a part into a derived "
        "item, split it into several criteria, or list values with IN (...)"
    )


def _nesting_levels(tokens: list[Token]) -> int:
    """The deepest nesting of the token stream: each open bracket or CASE is a level, and so is
    each prefix NOT or minus until the AND, OR, comma or CASE branch that ends its operand."""
    prefixes = [0]  # prefix operators in scope, per open bracket (the outermost first)
    level = deepest = 0
    previous: TokenType | None = None
    for token in tokens:
        kind = token.token_type
        if kind in _OPENERS:
            prefixes.append(0)
            level += 1
        elif kind in _CLOSERS and len(prefixes) > 1:
            level -= 1 + prefixes.pop()
        elif kind in _PREFIX_SCOPE_ENDS:
            level -= prefixes[-1]
            prefixes[-1] = 0
        elif kind == TokenType.NOT or (
            kind in (TokenType.DASH, TokenType.PLUS) and previous not in _OPERAND_ENDS
        ):
            prefixes[-1] += 1
            level += 1
        deepest = max(deepest, level)
        previous = kind
    return deepest


def _check_depth(tree: exp.Expression) -> None:
    """Refuse a parse tree deeper than MAX_TREE_DEPTH, measured without recursion."""
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_TREE_DEPTH:
            raise ExpressionError(_too_deep(f"{MAX_TREE_DEPTH} levels of operations"))
        pending.extend((child, depth + 1) for child in node.iter_expressions())


def _check_every_node(tree: exp.Expression, visited: set[int]) -> None:
    """Every node is one the type checker typed, or a fixed part of one (a column's name, a
    CASE branch, a CAST's type, an interval's unit): nothing is let through unchecked."""
    for node in tree.walk():
        if id(node) in visited:
            continue
        parent = node.parent
        if parent is not None and (type(node), type(parent), node.arg_key) in _PARTS:
            continue
        raise ExpressionError(_not_allowed(node))


def _shown(node: exp.Expr) -> str:
    """A node as the user wrote it, for a message (without sqlglot's warnings about what
    DuckDB lacks: it is being refused anyway)."""
    return node.sql(dialect=DIALECT, unsupported_level=ErrorLevel.IGNORE)


def _not_allowed(node: exp.Expr) -> str:
    return (
        f"`{_shown(node)}` is not allowed in a criterion: use data items, "
        f"literals, comparisons, AND/OR/NOT, CASE and the functions {ALLOWED_FUNCTIONS}"
    )


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
        self.types: dict[int, str] = {}
        """The type of each node typed, by id: a node is typed once however often it is asked
        (a chain of + asks for its left side twice), and the caller can refuse any node left
        unchecked."""
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
            exp.Round: self._round,
            exp.Abs: lambda n: self._expect(n.this, NUMBER),
            exp.Coalesce: self._same_type_args,
            exp.Greatest: self._same_type_args,
            exp.Least: self._same_type_args,
        }
        for comparison in _COMPARISONS:
            self.rules[comparison] = self._comparison
        for part in _DATE_PARTS:
            self.rules[part] = lambda n: self._expect(n.this, DATE, result=NUMBER)

    def type_of(self, node: exp.Expression | None) -> str:
        if node is None:  # the parser leaves an operand out of e.g. a lone `@` (ABS)
            raise ExpressionError("an operator or function is missing its operand")
        if isinstance(node, exp.Query | exp.Subquery | exp.Table):
            raise ExpressionError(_READS_TABLE)
        known = self.types.get(id(node))
        if known is not None:
            return known
        rule = self.rules.get(type(node))
        if rule is None:
            raise ExpressionError(_not_allowed(node))
        self.types[id(node)] = found = rule(node)
        return found

    def _expect(self, node: exp.Expression, wanted: str, result: str | None = None) -> str:
        found = self.type_of(node)
        if found not in (wanted, NULL):
            raise ExpressionError(f"`{_shown(node)}` is a {found} where a {wanted} is needed")
        return result or wanted

    def _column(self, node: exp.Expression) -> str:
        assert isinstance(node, exp.Column)
        if node.table:
            raise ExpressionError(
                f"`{_shown(node)}` reads a table: name the data item alone, e.g. `{node.name}`"
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
        length = node.this
        if not isinstance(length, exp.Literal) or not _is_number(length.name):
            raise ExpressionError("an interval's length must be a number, e.g. INTERVAL 6 MONTH")
        self.types[id(length)] = NUMBER
        return INTERVAL

    def _logical(self, node: exp.Expression) -> str:
        self._expect(_left(node), BOOLEAN)
        self._expect(_right(node), BOOLEAN)
        return BOOLEAN

    def _is(self, node: exp.Expression) -> str:
        self.type_of(node.this)
        if not isinstance(_right(node), exp.Null | exp.Boolean):
            raise ExpressionError("write IS [NOT] NULL, IS [NOT] TRUE or IS [NOT] FALSE")
        self.type_of(_right(node))
        return BOOLEAN

    def _round(self, node: exp.Expression) -> str:
        self._expect(node.this, NUMBER)
        decimals = node.args.get("decimals")
        if decimals is not None:
            self._expect(decimals, NUMBER)
        return NUMBER

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
        """A searched CASE (WHEN condition THEN ...) or a simple one (CASE operand WHEN value
        THEN ...), whose values are compared with the operand like `=` compares them."""
        operand = node.this
        branches = [branch.args["true"] for branch in node.args.get("ifs", [])]
        for branch in node.args.get("ifs", []):
            if operand is None:
                self._expect(branch.this, BOOLEAN)
            else:
                self._compatible(operand, branch.this)
        if node.args.get("default") is not None:
            branches.append(node.args["default"])
        return self._common_type(branches)

    def _cast(self, node: exp.Expression) -> str:
        self.type_of(node.this)
        target = node.args["to"]
        for param in target.find_all(exp.DataTypeParam):
            if not (isinstance(param.this, exp.Literal) and _is_number(param.this.name)):
                raise ExpressionError(f"CAST to {_shown(target)} is not supported")
        if target.is_type(*exp.DataType.NUMERIC_TYPES):
            return NUMBER
        if target.is_type(exp.DataType.Type.DATE):
            return DATE
        if target.is_type(exp.DataType.Type.BOOLEAN):
            return BOOLEAN
        if target.is_type(*exp.DataType.TEXT_TYPES):
            return STRING
        raise ExpressionError(f"CAST to {_shown(target)} is not supported")

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
                f"compares a {left_type} (`{_shown(left)}`) with a {right_type} (`{_shown(right)}`)"
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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
