"""The protocol's analysis sets and covariates, evaluated on the participants table.

The rules are the protocol's own expressions (checked at load), run by DuckDB over the
participants frame: an UNKNOWN rule (a value it reads is missing) puts her outside the set.
Covariates given by an expression are computed the same way and cast to their type.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from endotrial.errors import InputError
from endotrial.protocol.analysis_values import covariate_type, expression_type, readable_names
from endotrial.protocol.expressions import CheckedExpression, check_expression
from endotrial.protocol.models import AnalysisSets, ItemType, Protocol

#: The participants column of each analysis set of the plan.
SET_COLUMNS = {
    "full_analysis_set": "in_full_analysis_set",
    "per_protocol": "in_per_protocol_set",
    "safety": "in_safety_set",
}


def apply_analysis_plan(participants: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """A copy of `participants` with the three set flags and the expression covariates."""
    sets = protocol.analysis_plan.analysis_sets
    if sets is None:
        raise InputError(
            f"protocol {protocol.protocol_id} declares no analysis sets: add `analysis_sets` "
            "to its analysis_plan (docs/protocol-file.md)"
        )
    names = readable_names(protocol)
    checked = {
        SET_COLUMNS[field]: check_expression(getattr(sets, field).rule, names)
        for field in AnalysisSets.model_fields
    }
    for covariate in protocol.analysis_plan.covariates:
        if covariate.expression is not None:
            want = expression_type(covariate.expression, names)
            checked[covariate.name] = check_expression(covariate.expression, names, want=want)
    computed = _evaluate(participants, checked)
    result = participants.copy()
    for column in SET_COLUMNS.values():
        result[column] = computed[column].fillna(False).astype(bool).to_numpy()
    for covariate in protocol.analysis_plan.covariates:
        if covariate.expression is not None:
            kind = covariate_type(protocol, covariate.name)
            result[covariate.name] = _cast(computed[covariate.name], kind).array
    return result


def _evaluate(participants: pd.DataFrame, checked: dict[str, CheckedExpression]) -> pd.DataFrame:
    """Run the expressions over the frame; a column they read but the frame lacks is an
    InputError naming it."""
    read = {name for expression in checked.values() for name in expression.items}
    missing = sorted(read - set(participants.columns))
    if missing:
        raise InputError(
            f"the participants table lacks {', '.join(missing)}, which the analysis plan's "
            "rules read: build it with `build_dataset` or add the columns"
        )
    selected = ", ".join(f'{e.sql} AS "{column}"' for column, e in checked.items())
    connection = duckdb.connect()
    try:
        # A row number keeps one row per participant even when no rule reads a column.
        frame = participants[sorted(read)].assign(_row=range(len(participants)))
        connection.register("participants", frame)
        query = f"SELECT {selected} FROM participants ORDER BY _row"
        return connection.execute(query).fetchdf()
    finally:
        connection.close()


def _cast(values: pd.Series, kind: ItemType) -> pd.Series:
    if kind == ItemType.boolean:
        return values.astype("boolean")
    if kind == ItemType.integer:
        return values.astype("Int64")
    if kind == ItemType.number:
        return values.astype(float)
    return values.astype("string")
