"""Eligibility screening: the protocol's criteria as one SQL query, three-valued, at any scale.

`screen_file` and `screen_table` screen many candidates (`stream_file` in bounded memory, as
batches), `screen_candidate` one from a form;
`criteria_sql` gives the criteria in another SQL dialect for a data warehouse.
"""

from endotrial.eligibility.engine import (
    criteria_sql,
    screen_candidate,
    screen_file,
    screen_table,
    stream_file,
)
from endotrial.eligibility.plan import ScreeningPlan, build_plan
from endotrial.eligibility.results import (
    DECISIONS,
    RESULT_COLUMNS,
    CandidateResult,
    Decision,
    ScreeningRun,
    ScreeningStream,
)
from endotrial.eligibility.sql import screening_query

__all__ = [
    "DECISIONS",
    "RESULT_COLUMNS",
    "CandidateResult",
    "Decision",
    "ScreeningPlan",
    "ScreeningRun",
    "ScreeningStream",
    "build_plan",
    "criteria_sql",
    "screen_candidate",
    "screen_file",
    "screen_table",
    "screening_query",
    "stream_file",
]
