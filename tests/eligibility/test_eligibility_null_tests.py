"""Which items a criterion tests for NULL: only there does a bad value (made NULL) force UNKNOWN."""

from __future__ import annotations

import pytest
import sqlglot

from endotrial.eligibility import build_plan
from endotrial.protocol import Protocol
from endotrial.protocol.expressions import DIALECT, null_tested_items


@pytest.mark.parametrize(
    ("expression", "tested"),
    [
        # Plain three-valued logic: a NULL passes on as UNKNOWN.
        ("a < 100 OR b < 100 OR c", ()),
        ("ROUND(a, 2) BETWEEN 18 AND 27", ()),
        ("a IN ('x', 'y') AND NOT b", ()),
        ("c IN (a, b)", ()),
        ("a >= b - INTERVAL 3 MONTH", ()),
        ("CASE WHEN c THEN a ELSE b END > 1", ("c",)),  # only the condition
        # A NULL read as a value.
        ("a IS NOT NULL AND a >= b - INTERVAL 3 MONTH", ("a",)),
        ("a IS NULL OR b", ("a",)),
        ("NOT (a IS TRUE)", ("a",)),
        ("COALESCE(a, 0) > b", ("a",)),
        ("IFNULL(a, 0) > 1", ("a",)),
        ("NVL(a, b) > 1", ("a", "b")),
        ("GREATEST(a, b) > 1", ("a", "b")),
        ("LEAST(a, 1) < 0", ("a",)),
        ("a IS DISTINCT FROM b", ("a", "b")),
        ("NULLIF(a, 0) > 1", ("a",)),
        ("CASE a WHEN 1 THEN TRUE ELSE FALSE END", ("a",)),
        ("CASE WHEN a > 1 THEN TRUE ELSE FALSE END AND b", ("a",)),
        ("IF(a > 1, b, c)", ("a",)),
    ],
)
def test_null_tested_items(expression: str, tested: tuple[str, ...]) -> None:
    assert null_tested_items(sqlglot.parse_one(expression, dialect=DIALECT)) == tested


def test_the_plan_marks_the_criteria_that_read_a_blank(seed_protocol: Protocol) -> None:
    plan = build_plan(seed_protocol)
    assert plan.criterion("E16").null_tested == ("last_other_trial_date",)
    assert plan.criterion("E10").null_tested == ()
    assert plan.criterion("I3").null_tested == ()
    assert all(
        not c.null_tested
        for c in (*plan.trial_wide, *plan.arm_specific)
        if c.id not in ("E16", "I2")  # I2 reads age, whose formula tests dates in a CASE
    )
