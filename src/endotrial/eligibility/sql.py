"""Generate the one screening query from a plan and the source's column kinds.

The query is a chain of CTEs, each a single pass over the rows so DuckDB runs it vectorised:
text → parsed → checked (bad values become NULL, with a message) → items (derived items filled in)
→ criteria (one boolean column each) → flags → result lists. The only SQL text not written here
comes from the protocol's checked expressions; every identifier and literal is quoted.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

from sqlglot import exp

from endotrial.eligibility.plan import REFERENCE_DATE_ITEM, PlannedCriterion, ScreeningPlan
from endotrial.protocol.expressions import DIALECT
from endotrial.protocol.models import DataItem, ItemType

ID_COLUMN = "candidate_id"
ROW_COLUMN = "__row"
FIRST_ROW_COLUMN = "__first_row"
TODAY_COLUMN = "__today"
ID_HASH_COLUMN = "__id_hash"
TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")
EMPTY_LIST = "[]::VARCHAR[]"
MASK_BITS = 62


@dataclass(frozen=True)
class ScreeningQuery:
    """The SQL, and which result columns it returns as bit masks over which labels (bit 0 first)."""

    sql: str
    masked_columns: Mapping[str, tuple[str, ...]]


class ColumnKind(StrEnum):
    """How a source column is stored, which decides whether it needs parsing."""

    text = "text"
    number = "number"
    integer = "integer"
    boolean = "boolean"
    date = "date"
    timestamp = "timestamp"
    null = "null"
    other = "other"


_NATIVE_KINDS: dict[ItemType, tuple[ColumnKind, ...]] = {
    ItemType.number: (ColumnKind.number, ColumnKind.integer),
    ItemType.integer: (ColumnKind.number, ColumnKind.integer),
    ItemType.boolean: (ColumnKind.boolean,),
    ItemType.date: (ColumnKind.date, ColumnKind.timestamp),
    ItemType.category: (ColumnKind.text,),
}
#: No date of a candidate's history lies before this one: an earlier date is a typing slip.
EARLIEST_DATE = "1900-01-01"
SQL_TYPES = {
    ItemType.number: "DOUBLE",
    ItemType.integer: "DOUBLE",
    ItemType.boolean: "BOOLEAN",
    ItemType.date: "DATE",
    ItemType.category: "VARCHAR",
}


@dataclass(frozen=True)
class QueryOptions:
    """Where the rows come from and how a message names a place in them."""

    source_sql: str
    columns: Mapping[str, ColumnKind]
    id_kind: ColumnKind
    today: dt.date
    first_row_column: bool = False
    """The source has a `__first_row` column: for a row whose id an earlier row already has,
    that row (null otherwise). The reader adds it, so the query needs no join and keeps the
    rows' order without sorting them."""
    per_field_messages: bool = False
    id_hashes: bool = False
    """Also return a hash of each (trimmed) id, NULL for a blank one, as `__id_hash`: the caller
    finds repeated ids from it without a second pass over the rows."""
    today_column: bool = False
    """The source has a `__today` column (DATE) to read today from, instead of `today` written
    into the query: a query prepared once then serves any day (the column is a parameter, named
    once: DuckDB binds a prepared query again on every run when a parameter appears twice)."""
    bit_masks: bool = True
    """Return each list of labels as a bit mask the caller decodes (far cheaper per row of a
    file); else as the list itself (one candidate: fewer expressions for DuckDB to set up)."""


#: How far a typed number may sit from the value computed from its inputs (rounding, e.g. a
#: number typed as 23 for a computed 22.86) before the two are reported as disagreeing.
CONFLICT_TOLERANCE = 0.5
QUOTE = "'"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list_of(entries: Iterable[str]) -> str:
    """Non-NULL entries of a list of CASE expressions, in their order."""
    values = list(entries)
    if not values:
        return EMPTY_LIST
    return f"list_filter(list_value({', '.join(values)}), lambda v: v IS NOT NULL)"


def _masked(entries: Iterable[tuple[str, str]]) -> str:
    """The constant labels whose condition holds, in order: `list_where` builds the list without
    a per-element lambda. Each condition must be TRUE or FALSE, never NULL (use IS TRUE/IS NULL)."""
    pairs = list(entries)
    if not pairs:
        return EMPTY_LIST
    labels = ", ".join(literal(label) for label, _ in pairs)
    masks = ", ".join(f"({condition})" for _, condition in pairs)
    return f"list_where([{labels}], [{masks}])"


def _bits(entries: list[tuple[str, str]]) -> str:
    """A BIGINT with bit k set when the k-th condition holds (conditions never NULL)."""
    terms = [
        f"CASE WHEN {condition} THEN {1 << bit} ELSE 0 END"
        for bit, (_, condition) in enumerate(entries)
    ]
    return " + ".join(terms) or "0"


def _any(conditions: Iterable[str]) -> str:
    joined = " OR ".join(f"({c})" for c in conditions)
    return joined or "FALSE"


def _p(name: str) -> str:
    return quote(f"p__{name}")


def _number_text(value: float) -> str:
    return f"{value:g}"


class _Generator:
    def __init__(self, plan: ScreeningPlan, options: QueryOptions) -> None:
        self.plan = plan
        self.options = options
        self.given = [item for item in plan.items if item.name in options.columns]
        self.masked_columns: dict[str, tuple[str, ...]] = {}
        self._forcing_of: dict[str, list[str]] = {}
        self._flagged_items: list[str] | None = None

    # --- stage 1: text -------------------------------------------------------------------
    def _source_kind(self, item: DataItem) -> ColumnKind:
        """The kind the parsing stage sees: a column of an unexpected type is read as text."""
        kind = self.options.columns[item.name]
        if kind in _NATIVE_KINDS[item.type] or kind == ColumnKind.null:
            return kind
        return ColumnKind.text

    def _trims_late(self, item: DataItem) -> bool:
        """A text column of a category is trimmed only where a value is not already exactly one
        of the allowed values (almost every value is): trimming every row costs more than the
        check. Only when no allowed value has spaces at either end, so an exact match is
        already its own trimmed text."""
        values = item.values or []
        return (
            item.type == ItemType.category
            and self.options.columns[item.name] == ColumnKind.text
            and all(value and value == value.strip() for value in values)
        )

    def _text(self, item: DataItem) -> str:
        """The trimmed text of a text column, NULL when blank."""
        column = quote(item.name)
        return f"NULLIF(trim({column}), '')" if self._trims_late(item) else column

    def text_stage(self) -> str:
        columns = [
            f"{quote(ROW_COLUMN)}",
            f"NULLIF(trim(CAST({quote(ID_COLUMN)} AS VARCHAR)), '') AS {quote(ID_COLUMN)}",
        ]
        if self.options.first_row_column:
            columns.append(quote(FIRST_ROW_COLUMN))
        if self.options.today_column:
            columns.append(quote(TODAY_COLUMN))
        for item in self.given:
            column = quote(item.name)
            if self._source_kind(item) == ColumnKind.text and not self._trims_late(item):
                raw_kind = self.options.columns[item.name]
                as_text = column if raw_kind == ColumnKind.text else f"CAST({column} AS VARCHAR)"
                columns.append(f"NULLIF(trim({as_text}), '') AS {column}")
            else:
                columns.append(column)
        return f"SELECT {', '.join(columns)} FROM {self.options.source_sql}"

    # --- stage 2: parsed -----------------------------------------------------------------
    def _parse(self, item: DataItem) -> str:
        column, kind = quote(item.name), self._source_kind(item)
        sql_type = SQL_TYPES[item.type]
        if kind == ColumnKind.null:
            return f"CAST(NULL AS {sql_type})"
        if kind != ColumnKind.text:
            if item.type == ItemType.date and kind == ColumnKind.timestamp:
                return f"CAST({column} AS DATE)"
            return column  # numbers keep their type: comparisons need no cast
        if item.type in (ItemType.number, ItemType.integer):
            return f"TRY_CAST({column} AS DOUBLE)"
        if item.type == ItemType.boolean:
            return (
                f"CASE WHEN lower({column}) IN ({', '.join(map(literal, TRUE_WORDS))}) THEN TRUE "
                f"WHEN lower({column}) IN ({', '.join(map(literal, FALSE_WORDS))}) THEN FALSE END"
            )
        if item.type == ItemType.date:
            return (
                f"CASE WHEN regexp_full_match({column}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
                f"THEN TRY_CAST({column} AS DATE) END"
            )
        return self._parse_category(item)

    def _parse_category(self, item: DataItem) -> str:
        values = item.values or []
        exact = ", ".join(map(literal, values))
        text = self._text(item)
        folded = " ".join(
            f"WHEN lower({text}) = {literal(v.lower())} THEN {literal(v)}" for v in values
        )
        parsed = f"CASE WHEN {text} IN ({exact}) THEN {text} {folded} END"
        if not self._trims_late(item):
            return parsed
        column = quote(item.name)
        return f"CASE WHEN {column} IN ({exact}) THEN {column} ELSE {parsed} END"

    def parsed_stage(self) -> str:
        columns = [quote(ROW_COLUMN), quote(ID_COLUMN)]
        if self.options.first_row_column:
            columns.append(quote(FIRST_ROW_COLUMN))
        if self.options.today_column:
            columns.append(quote(TODAY_COLUMN))
        for item in self.given:
            columns.append(f"{self._parse(item)} AS {_p(item.name)}")
            if self._source_kind(item) == ColumnKind.text:
                columns.append(quote(item.name))
        return f"SELECT {', '.join(columns)} FROM text_stage"

    # --- stage 3: checked ----------------------------------------------------------------
    def _where(self, name: str) -> str:
        if self.options.per_field_messages:
            return literal(f"{name}: ")
        return f"'row ' || {quote(ROW_COLUMN)} || {literal(f', column {name}: ')}"

    def _raw(self, item: DataItem) -> str:
        if self._source_kind(item) == ColumnKind.text:
            return self._text(item)
        return f"CAST({_p(item.name)} AS VARCHAR)"

    def _message(self, item: DataItem, problem: str) -> str:
        return f"{self._where(item.name)} || '''' || {self._raw(item)} || {literal(problem)}"

    def _checks(self, item: DataItem) -> list[tuple[str, str]]:
        """(condition, message SQL) pairs: a value meeting a condition becomes missing."""
        problems = self._value_problems(item)
        checks = [(condition, self._message(item, text)) for condition, text in problems]
        return checks + self._date_checks(item)

    def _value_problems(self, item: DataItem) -> list[tuple[str, str]]:
        parsed = _p(item.name)
        problems: list[tuple[str, str]] = []
        if self._source_kind(item) == ColumnKind.text:
            problems.append(self._parse_failure(item))
        unit = f" {item.unit}" if item.unit else ""
        if item.type == ItemType.integer and self._source_kind(item) != ColumnKind.integer:
            problems.append((f"{parsed} <> round({parsed})", "' is not a whole number; correct it"))
        if item.minimum is not None:
            bound = _number_text(item.minimum)
            problems.append(
                (f"{parsed} < {bound}", f"' is below the minimum {bound}{unit}; correct the value")
            )
        if item.maximum is not None:
            bound = _number_text(item.maximum)
            problems.append(
                (f"{parsed} > {bound}", f"' is above the maximum {bound}{unit}; correct the value")
            )
        return problems

    def _parse_failure(self, item: DataItem) -> tuple[str, str]:
        column, parsed = quote(item.name), _p(item.name)
        failed = f"{column} IS NOT NULL AND {parsed} IS NULL"
        if self._trims_late(item):
            # Only where no value was read is the text trimmed, to see whether it was blank.
            failed = (
                f"CASE WHEN {parsed} IS NULL THEN {self._text(item)} IS NOT NULL ELSE FALSE END"
            )
        if item.type in (ItemType.number, ItemType.integer):
            failed = f"{column} IS NOT NULL AND ({parsed} IS NULL OR NOT isfinite({parsed}))"
            return failed, "' is not a number; correct it, or leave it blank if not known"
        if item.type == ItemType.boolean:
            return failed, "' is not yes/no; write true/false, yes/no, y/n or 1/0"
        if item.type == ItemType.date:
            return failed, "' is not a valid date; write it as yyyy-mm-dd"
        allowed = ", ".join(item.values or [])
        return failed, f"' is not one of {allowed}; correct the value"

    def _date_checks(self, item: DataItem) -> list[tuple[str, str]]:
        parsed = _p(item.name)
        if item.type != ItemType.date:
            return []
        ancient = (
            f"{parsed} < DATE '{EARLIEST_DATE}'",
            self._message(item, f"' is before {EARLIEST_DATE}: check the year"),
        )
        return [ancient, *self._later_date_checks(item)]

    def _later_date_checks(self, item: DataItem) -> list[tuple[str, str]]:
        parsed = _p(item.name)
        if item.name == REFERENCE_DATE_ITEM:
            return [self._future_check(item)]
        if item.not_after_screening and REFERENCE_DATE_ITEM in self.options.columns:
            reference = _p(REFERENCE_DATE_ITEM)
            message = (
                f"{self._where(item.name)} || '''' || {self._raw(item)} || "
                f"''' is after {REFERENCE_DATE_ITEM} ' || CAST({reference} AS VARCHAR) || "
                "' (a date in the future); correct the date'"
            )
            return [(f"{parsed} > {reference}", message)]
        return []

    def _future_check(self, item: DataItem) -> tuple[str, str]:
        """The reference date after today: today written in, or read from the today column."""
        parsed = _p(item.name)
        if not self.options.today_column:
            today = self.options.today.isoformat()
            problem = f"' is a date in the future (today is {today}); correct the date"
            return f"{parsed} > DATE {literal(today)}", self._message(item, problem)
        today_sql = quote(TODAY_COLUMN)
        message = (
            f"{self._where(item.name)} || '''' || {self._raw(item)} || "
            f"''' is a date in the future (today is ' || CAST({today_sql} AS VARCHAR) || "
            "'); correct the date'"
        )
        return f"{parsed} > {today_sql}", message

    def checked_stage(self) -> str:
        """Flag each bad value once; the messages are built later, only for flagged rows."""
        columns = self._carried("parsed_stage")
        for item in self.given:
            columns.append(_p(item.name))
            if self._source_kind(item) == ColumnKind.text:
                columns.append(quote(item.name))
            checks = self._checks(item)
            if checks:
                bad = _any(condition for condition, _ in checks)
                columns.append(f"({bad}) AS {_bad(item.name)}")
        return f"SELECT {', '.join(columns)} FROM parsed_stage"

    def clean_stage(self) -> str:
        columns = self._carried("checked_stage")
        messages: list[str] = []
        flags: list[str] = []
        for item in self.given:
            checks = self._checks(item)
            parsed = _p(item.name)
            if not checks:
                columns.append(f"{parsed} AS {quote(item.name)}")
                continue
            flag = _bad(item.name)
            columns.append(f"CASE WHEN {flag} THEN NULL ELSE {parsed} END AS {quote(item.name)}")
            columns.append(flag)
            flags.append(flag)
            messages.extend(f"CASE WHEN {condition} THEN {text} END" for condition, text in checks)
        errors = _list_of(messages)
        if messages:
            errors = f"CASE WHEN {' OR '.join(flags)} THEN {errors} ELSE {EMPTY_LIST} END"
        columns.append(f"{errors} AS __value_errors")
        return f"SELECT {', '.join(columns)} FROM checked_stage"

    def _carried(self, stage: str) -> list[str]:
        columns = [quote(ROW_COLUMN), quote(ID_COLUMN)]
        if self.options.first_row_column:
            columns.append(quote(FIRST_ROW_COLUMN))
        if self.options.today_column:
            columns.append(quote(TODAY_COLUMN))
        return columns

    # --- stage 4: items (derived filled in; a typed value must agree with it) -------------
    def _flagged(self) -> list[str]:
        """Given items whose bad values were flagged (and made NULL) in the clean stage (asked
        once per criterion and item list: worked out once)."""
        if self._flagged_items is None:
            self._flagged_items = [item.name for item in self.given if self._checks(item)]
        return self._flagged_items

    def derived_stage(self) -> str:
        """Items not in the file as NULL columns, then each derived item computed from them
        (DuckDB lets a select list read the aliases defined before it)."""
        absent = [
            f"CAST(NULL AS {SQL_TYPES[item.type]}) AS {quote(item.name)}"
            for item in self.plan.items
            if item.name not in self.options.columns and item.name not in self.plan.derived
        ]
        computed = [
            f"CAST(({derived.sql}) AS {SQL_TYPES[self.plan.item(name).type]}) AS {_d(name)}"
            for name, derived in self.plan.derived.items()
        ]
        return f"SELECT {', '.join(['*', *absent, *computed])} FROM clean_stage"

    def items_stage(self) -> str:
        columns = [quote(ROW_COLUMN), quote(ID_COLUMN), *map(_bad, self._flagged())]
        if self.options.first_row_column:
            columns.append(quote(FIRST_ROW_COLUMN))
        conflicts: list[tuple[str, str]] = []
        for item in self.plan.items:
            name = quote(item.name)
            given = item.name in self.options.columns
            if item.name in self.plan.derived:
                value = _d(item.name)
                impossible = self._out_of_range(item)
                if impossible is not None:
                    conflicts.append((impossible, self._range_message(item)))
                    value = f"CASE WHEN {impossible} THEN NULL ELSE {value} END"
                if given:
                    conflict = self._conflict(item)
                    conflicts.append((conflict, self._conflict_message(item)))
                    # Within the tolerance the computed value decides, not the typed one.
                    value = f"CASE WHEN {conflict} THEN NULL ELSE COALESCE({value}, {name}) END"
                columns.append(f"{value} AS {name}")
            else:
                columns.append(name)
        columns.append(f"{_with_conflicts(conflicts)} AS __value_errors")
        return f"SELECT {', '.join(columns)} FROM derived_stage"

    def _out_of_range(self, item: DataItem) -> str | None:
        """A computed value outside its item's range (an age of 126 from a mistyped birth
        date): the inputs are wrong, so the value is not used."""
        computed = _d(item.name)
        bounds = [
            f"{computed} {op} {_number_text(bound)}"
            for op, bound in (("<", item.minimum), (">", item.maximum))
            if bound is not None
        ]
        return f"({computed} IS NOT NULL AND ({' OR '.join(bounds)}))" if bounds else None

    def _range_message(self, item: DataItem) -> str:
        used = self.plan.inputs_of(item.name)
        inputs = " and ".join(i.name for i in self.plan.items if i.name in used)
        low = "" if item.minimum is None else _number_text(item.minimum)
        high = "" if item.maximum is None else _number_text(item.maximum)
        unit = f" {item.unit}" if item.unit else ""
        computed = f"CAST(CAST({_d(item.name)} AS DECIMAL(18, 2)) AS VARCHAR)"
        advice = (
            f" computed from {inputs} lies outside {low}-{high}{unit}, which is impossible; "
            f"correct {inputs}"
        )
        return f"{self._where(item.name)} || {computed} || {literal(advice)}"

    def _conflict(self, item: DataItem) -> str:
        """A typed value that disagrees with the one computed from its inputs: an integer (age)
        exactly, a number by more than rounding explains (CONFLICT_TOLERANCE)."""
        typed, computed = quote(item.name), _d(item.name)
        differs = f"{typed} <> {computed}"
        if item.type is ItemType.number:
            differs = f"abs({typed} - {computed}) > {CONFLICT_TOLERANCE}"
        return f"({typed} IS NOT NULL AND {computed} IS NOT NULL AND {differs})"

    def _conflict_message(self, item: DataItem) -> str:
        used = self.plan.inputs_of(item.name)
        inputs = " and ".join(i.name for i in self.plan.items if i.name in used)
        precision = "BIGINT" if item.type is ItemType.integer else "DECIMAL(18, 2)"
        computed = f"CAST(CAST({_d(item.name)} AS {precision}) AS VARCHAR)"
        typed = quote(item.name)
        if item.type is ItemType.integer:
            typed = f"CAST({typed} AS BIGINT)"
        typed = f"CAST({typed} AS VARCHAR)"
        advice = f" computed from {inputs}; correct one of them, or leave {item.name} blank"
        return (
            f"{self._where(item.name)} || '''' || {typed} || {literal(QUOTE + ' disagrees with ')}"
            f" || {computed} || {literal(advice)}"
        )

    # --- stage 5: criteria ---------------------------------------------------------------
    def criteria_stage(self) -> str:
        criteria = [*self.plan.trial_wide, *self.plan.arm_specific]
        evaluated = [f"{self._criterion_value(c)} AS {_c(c)}" for c in criteria]
        return f"SELECT *, {', '.join(evaluated) or 'NULL AS __none'} FROM items_stage"

    def _forcing(self, criterion: PlannedCriterion) -> list[str]:
        """The flagged items whose bad value, made NULL, the criterion would read as a blank:
        those it tests for NULL (planned once), and a typed-and-derived item it reads with that
        item's inputs (the typed and the computed value stand in for each other)."""
        if criterion.id not in self._forcing_of:
            forcing = set(criterion.null_tested)
            for name in criterion.expression.items:
                if name in self.plan.derived and name in self.options.columns:
                    forcing.update((name, *self.plan.inputs_of(name)))
            self._forcing_of[criterion.id] = [n for n in self._flagged() if n in forcing]
        return self._forcing_of[criterion.id]

    def _criterion_value(self, criterion: PlannedCriterion) -> str:
        """UNKNOWN when an item it reads as a blank held a bad value: the value is not there, but
        neither is it blank (a blank may have a meaning, e.g. 'never in another trial'). Anywhere
        else the NULL already gives the three-valued answer (TRUE OR UNKNOWN is TRUE)."""
        bad = [_bad(n) for n in self._forcing(criterion)]
        sql = _dates_as_dates(criterion.expression.tree)
        if not bad:
            return f"({sql})"
        return f"CASE WHEN {' OR '.join(bad)} THEN NULL ELSE ({sql}) END"

    # --- stage 6: flags and result lists -------------------------------------------------
    def mask_stage(self) -> str:
        """The failed criteria as one bit mask: it decides ineligibility and is the list too."""
        failed = self._failed_entries()
        if not self._as_mask(failed):
            return "SELECT * FROM criteria_stage"
        return f"SELECT *, {_bits(failed)} AS __failed_mask FROM criteria_stage"

    def flags_stage(self) -> str:
        trial_wide = self.plan.trial_wide
        invalid = f"{quote(ID_COLUMN)} IS NULL"
        if self.options.first_row_column:
            invalid += f" OR {quote(FIRST_ROW_COLUMN)} IS NOT NULL"
        ineligible = _any(condition for _, condition in self._failed_entries())
        if self._as_mask(self._failed_entries()):
            ineligible = "__failed_mask <> 0"
        unknown = _any(f"{_c(c)} IS NULL" for c in trial_wide)
        return (
            f"SELECT *, ({invalid}) AS __invalid, "
            f"(NOT ({invalid}) AND ({ineligible})) AS __ineligible, "
            f"(NOT ({invalid}) AND NOT ({ineligible}) AND ({unknown})) AS __incomplete "
            "FROM mask_stage"
        )

    def _as_mask(self, entries: list[tuple[str, str]]) -> bool:
        return self.options.bit_masks and len(entries) <= MASK_BITS

    def _failed_entries(self) -> list[tuple[str, str]]:
        return [(c.id, _rules_out(c)) for c in self.plan.trial_wide]

    def result_stage(self) -> str:
        decision = (
            "CASE WHEN __invalid THEN 'invalid' WHEN __ineligible THEN 'ineligible' "
            "WHEN __incomplete THEN 'incomplete' ELSE 'eligible' END"
        )
        screened = "NOT __invalid AND NOT __ineligible"
        lists = {
            "failed_criteria": ("__ineligible", self._failed_entries()),
            "unknown_criteria": (
                "__incomplete",
                [(c.id, f"{_c(c)} IS NULL") for c in self.plan.trial_wide],
            ),
            "missing_items": ("__incomplete", self._missing_items()),
            "eligible_arms": (screened, self._eligible_arms()),
            "arm_notes": (screened, self._arm_notes()),
        }
        columns = [
            f"{quote(ID_COLUMN)}",
            f"{quote(ROW_COLUMN)} AS row",
            f"{decision} AS decision",
            *(self._list_column(name, guard, entries) for name, (guard, entries) in lists.items()),
            f"{self._errors()} AS errors",
        ]
        if self.options.id_hashes:
            cid = quote(ID_COLUMN)
            columns.append(f"CASE WHEN {cid} IS NOT NULL THEN hash({cid}) END AS {ID_HASH_COLUMN}")
        return f"SELECT {', '.join(columns)} FROM flags_stage"

    def _list_column(self, name: str, guard: str, entries: list[tuple[str, str]]) -> str:
        """A list of labels as a bit mask the caller decodes (one integer per row is far cheaper
        than a list per row), or as a list when there are too many labels for one integer."""
        if self._as_mask(entries):
            self.masked_columns[name] = tuple(label for label, _ in entries)
            bits = "__failed_mask" if name == "failed_criteria" else _bits(entries)
            return f"CASE WHEN {guard} THEN {bits} ELSE 0 END AS {quote(name)}"
        return f"CASE WHEN {guard} THEN {_masked(entries)} ELSE {EMPTY_LIST} END AS {quote(name)}"

    def _missing_items(self) -> list[tuple[str, str]]:
        """Each item NULL for the row and read by a criterion that is UNKNOWN, or bad and read as
        a blank by one (see `_forcing`), in item order."""
        entries: list[tuple[str, str]] = []
        for item in self.plan.items:
            users = [c for c in self.plan.trial_wide if self.plan.reads(c, item.name)]
            forced = [c for c in self.plan.trial_wide if item.name in self._forcing(c)]
            conditions = []
            if users:
                unknown = _any(f"{_c(c)} IS NULL" for c in users)
                conditions.append(f"{quote(item.name)} IS NULL AND ({unknown})")
            if forced:
                unknown = _any(f"{_c(c)} IS NULL" for c in forced)
                conditions.append(f"{_bad(item.name)} IS TRUE AND ({unknown})")
            if conditions:
                entries.append((self.plan.missing_label(item.name), _any(conditions)))
        return entries

    def _arm_rule_out(self, arm_id: str) -> str:
        applying = [c for c in self.plan.arm_specific if arm_id in c.arms]
        return _any(_rules_out(c) for c in applying)

    def _eligible_arms(self) -> list[tuple[str, str]]:
        """An arm is open only when each of its own criteria is known to let her in: one still
        UNKNOWN (an allergy test not recorded, or its value unreadable) keeps it closed."""
        entries = []
        for arm in self.plan.arm_ids:
            applying = [c for c in self.plan.arm_specific if arm in c.arms]
            unknown = _any(f"{_c(c)} IS NULL" for c in applying)
            entries.append((arm, f"NOT ({self._arm_rule_out(arm)}) AND NOT ({unknown})"))
        return entries

    def _arm_notes(self) -> list[tuple[str, str]]:
        entries: list[tuple[str, str]] = []
        for c in self.plan.arm_specific:
            labels = " or ".join(_lower_first(self.plan.item(i).label) for i in c.expression.items)
            effect = c.criterion.effect or f"rules out arm {', '.join(c.arms)}"
            missing = ", ".join(c.expression.items)
            arms = ", ".join(c.arms)
            entries.append((f"{c.id}: {labels} {effect}", _rules_out(c)))
            entries.append(
                (
                    f"{c.id}: {missing} not recorded; needed before allocation to {arms}",
                    f"{_c(c)} IS NULL",
                )
            )
        return entries

    def _id_errors(self) -> str:
        where = self._where(ID_COLUMN)
        blank = f"{where} || 'blank; give every candidate a unique id'"
        duplicate = "NULL"
        if self.options.first_row_column:
            duplicate = (
                f"{where} || '''' || {quote(ID_COLUMN)} || ''' repeats the id of row ' || "
                f"{quote(FIRST_ROW_COLUMN)} || '; give each candidate a unique id'"
            )
        return (
            f"CASE WHEN {quote(ID_COLUMN)} IS NULL THEN [{blank}] "
            f"WHEN {'FALSE' if duplicate == 'NULL' else quote(FIRST_ROW_COLUMN) + ' IS NOT NULL'} "
            f"THEN [{duplicate}] ELSE {EMPTY_LIST} END"
        )

    def _errors(self) -> str:
        """Id errors first, then value errors; the concatenation only where an id is wrong."""
        wrong_id = f"{quote(ID_COLUMN)} IS NULL"
        if self.options.first_row_column:
            wrong_id += f" OR {quote(FIRST_ROW_COLUMN)} IS NOT NULL"
        concatenated = f"list_concat({self._id_errors()}, __value_errors)"
        return f"CASE WHEN {wrong_id} THEN {concatenated} ELSE __value_errors END"

    def query(self) -> ScreeningQuery:
        stages = {
            "text_stage": self.text_stage(),
            "parsed_stage": self.parsed_stage(),
            "checked_stage": self.checked_stage(),
            "clean_stage": self.clean_stage(),
            "derived_stage": self.derived_stage(),
            "items_stage": self.items_stage(),
            "criteria_stage": self.criteria_stage(),
            "mask_stage": self.mask_stage(),
            "flags_stage": self.flags_stage(),
        }
        ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in stages.items())
        result = self.result_stage()
        return ScreeningQuery(f"WITH {ctes}\n{result}", dict(self.masked_columns))


def _c(criterion: PlannedCriterion) -> str:
    return quote(f"c__{criterion.id}")


def _bad(name: str) -> str:
    return quote(f"bad__{name}")


def _d(name: str) -> str:
    return quote(f"d__{name}")


def _with_conflicts(conflicts: list[tuple[str, str]]) -> str:
    """The value errors, followed by a message for each typed value that disagrees."""
    if not conflicts:
        return "__value_errors"
    messages = _list_of(f"CASE WHEN {c} THEN {m} END" for c, m in conflicts)
    return (
        f"CASE WHEN {_any(c for c, _ in conflicts)} "
        f"THEN list_concat(__value_errors, {messages}) ELSE __value_errors END"
    )


def _dates_as_dates(tree: exp.Expression) -> str:
    """The expression's SQL with each date plus or minus an interval cast back to DATE, the type
    the protocol's expressions give it. DuckDB makes it a TIMESTAMP (at midnight: the intervals
    are whole days, weeks, months or years), and comparing dates with timestamps casts every
    row's date; the cast gives the same answers for less work."""

    def as_date(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Add | exp.Sub) and any(
            isinstance(side, exp.Interval) for side in (node.left, node.right)
        ):
            return exp.Cast(this=exp.Paren(this=node), to=exp.DataType.build("DATE"))
        return node

    return tree.transform(as_date).sql(dialect=DIALECT)


def _rules_out(criterion: PlannedCriterion) -> str:
    """An inclusion not met, or an exclusion met (UNKNOWN rules out nothing)."""
    return f"{_c(criterion)} IS {'TRUE' if criterion.is_exclusion else 'FALSE'}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


#: Queries generated in this process, by plan (identity) and options: writing one costs about
#: 10-20 ms, which a screening of one candidate would otherwise pay on every call.
_QUERIES: dict[tuple[object, ...], tuple[ScreeningPlan, ScreeningQuery]] = {}
_QUERIES_KEPT = 32
_QUERIES_LOCK = threading.Lock()


def screening_query(plan: ScreeningPlan, options: QueryOptions) -> ScreeningQuery:
    """The whole screening as one SQL query over `options.source_sql`."""
    key = (id(plan), *_option_key(options))
    with _QUERIES_LOCK:
        cached = _QUERIES.get(key)
    if cached is not None and cached[0] is plan:
        return cached[1]
    query = _Generator(plan, options).query()
    with _QUERIES_LOCK:
        if len(_QUERIES) >= _QUERIES_KEPT:
            _QUERIES.pop(next(iter(_QUERIES)))
        _QUERIES[key] = (plan, query)
    return query


def _option_key(options: QueryOptions) -> tuple[object, ...]:
    values = {f.name: getattr(options, f.name) for f in fields(options)}
    if options.today_column:
        del values["today"]  # read from the source, not written into the query
    return tuple(
        tuple(value.items()) if isinstance(value, Mapping) else value for value in values.values()
    )
