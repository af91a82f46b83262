"""The participant flow of a non-randomised trial (TREND, Des Jarlais et al. 2004, item 13).

Stages: assessed for eligibility; excluded, with reasons (not eligible, by failed criterion;
screening incomplete; eligible but not enrolled); allocated per arm; received the allocated
intervention or not; lost to follow-up (withdrawn before the primary outcome) with reasons;
analysed (full analysis set) and excluded from analysis. A woman failing several criteria is
counted under each, so the reasons may add up to more than the number not eligible.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class ArmFlow:
    arm: str
    allocated: int
    received: int
    not_received: int
    lost: int
    lost_reasons: dict[str, int]
    analysed: int
    not_analysed: int
    per_protocol: int


@dataclass(frozen=True)
class Flow:
    """The numbers of the flow diagram; `table()` gives them as rows for the report."""

    assessed: int
    excluded: int
    not_eligible: int
    exclusion_reasons: dict[str, int]
    incomplete: int
    eligible_not_enrolled: int
    enrolled: int
    not_allocated: int
    arms: tuple[ArmFlow, ...] = field(default_factory=tuple)

    def table(self) -> pd.DataFrame:
        rows: list[dict[str, object]] = [
            {"stage": "Assessed for eligibility", "arm": "", "n": self.assessed},
            {"stage": "Excluded", "arm": "", "n": self.excluded},
            {"stage": "  not eligible", "arm": "", "n": self.not_eligible},
            *(
                {"stage": f"    {reason}", "arm": "", "n": count}
                for reason, count in self.exclusion_reasons.items()
            ),
            {"stage": "  screening incomplete", "arm": "", "n": self.incomplete},
            {"stage": "  eligible, not enrolled", "arm": "", "n": self.eligible_not_enrolled},
            {"stage": "Enrolled", "arm": "", "n": self.enrolled},
            {"stage": "Enrolled, not allocated", "arm": "", "n": self.not_allocated},
        ]
        for arm in self.arms:
            rows += [
                {"stage": "Allocated", "arm": arm.arm, "n": arm.allocated},
                {"stage": "Received the allocated intervention", "arm": arm.arm, "n": arm.received},
                {"stage": "Did not receive it", "arm": arm.arm, "n": arm.not_received},
                {"stage": "Lost to follow-up", "arm": arm.arm, "n": arm.lost},
                *(
                    {"stage": f"  {reason}", "arm": arm.arm, "n": count}
                    for reason, count in arm.lost_reasons.items()
                ),
                {"stage": "Analysed (full analysis set)", "arm": arm.arm, "n": arm.analysed},
                {"stage": "Excluded from analysis", "arm": arm.arm, "n": arm.not_analysed},
                {"stage": "Per-protocol set", "arm": arm.arm, "n": arm.per_protocol},
            ]
        return pd.DataFrame(rows, columns=["stage", "arm", "n"])


def participant_flow(
    screenings: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    arms: Sequence[str],
    criteria: Mapping[str, str] | None = None,
) -> Flow:
    """The TREND flow from the screening log and the participants table; `criteria` names
    each criterion id in the exclusion reasons (id → short text)."""
    decisions = screenings["decision"].astype(str)
    enrolled_ids = set(participants["participant_id"].astype(str))
    screened_enrolled = screenings["participant_id"].astype("string").isin(enrolled_ids)
    not_eligible = screenings[decisions == "ineligible"]
    return Flow(
        assessed=len(screenings),
        excluded=int((~screened_enrolled).sum()),
        not_eligible=len(not_eligible),
        exclusion_reasons=_reasons(not_eligible["failed_criteria"], criteria or {}),
        incomplete=int((decisions == "incomplete").sum()),
        eligible_not_enrolled=int(((decisions == "eligible") & ~screened_enrolled).sum()),
        enrolled=len(participants),
        not_allocated=int(participants["arm"].isna().sum()),
        arms=tuple(_arm_flow(participants, arm) for arm in arms),
    )


def _arm_flow(participants: pd.DataFrame, arm: str) -> ArmFlow:
    rows = participants[participants["arm"].astype("string") == arm]
    received = int(_flag(rows, "received_intervention").sum())
    lost = rows[_flag(rows, "lost_to_follow_up")]
    reasons = Counter(
        str(r) if pd.notna(r) else "reason not recorded" for r in lost["withdrawal_reason"]
    )
    analysed = int(_flag(rows, "in_full_analysis_set").sum())
    return ArmFlow(
        arm=arm,
        allocated=len(rows),
        received=received,
        not_received=len(rows) - received,
        lost=len(lost),
        lost_reasons=dict(reasons.most_common()),
        analysed=analysed,
        not_analysed=len(rows) - analysed,
        per_protocol=int(_flag(rows, "in_per_protocol_set").sum()),
    )


def _flag(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows[column].fillna(False).astype(bool)


def _reasons(failed: pd.Series, criteria: Mapping[str, str]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for text in failed.fillna(""):
        for criterion in (c.strip() for c in str(text).split(",")):
            if criterion:
                counts[criterion] += 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {_reason(c, criteria): n for c, n in ordered}


def _reason(criterion: str, criteria: Mapping[str, str]) -> str:
    text = criteria.get(criterion)
    return f"{criterion}: {text}" if text else criterion
