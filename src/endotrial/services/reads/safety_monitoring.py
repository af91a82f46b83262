"""Interim safety monitoring for the safety board: serious adverse events by arm and the
posterior probability that the experimental arm's serious-AE rate exceeds the comparator's by
the margin the protocol's analysis plan sets (`analysis.safety_monitoring`, pure).

Counted as the report counts them: the protocol's safety set (its rule, evaluated on the
participant values this read derives from the store), grouped by treatment received when the
plan says so; the posterior compares women with at least one serious event, under each of
the stated priors. Only the reader's sites are counted (the safety board is central: all).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from endotrial.analysis import safety_monitoring as monitoring
from endotrial.protocol.analysis_values import readable_names
from endotrial.protocol.expressions import check_expression
from endotrial.protocol.models import Protocol
from endotrial.services.context import Actor, Study, Tx, reading
from endotrial.services.errors import InvalidInput
from endotrial.services.permissions import Operation
from endotrial.services.reads._scope import her_participants, of_her_sites
from endotrial.services.reads.permitted import permitted
from endotrial.services.reads.safety import checked_moment
from endotrial.store import (
    AdverseEvent,
    Allocation,
    Cycle,
    MedicationRecord,
    Participant,
    Procedure,
)

#: The participant values this read derives; a safety rule reading any other value is refused
#: (the report, built from the whole analysis dataset, still computes it).
DERIVED_VALUES = ("allocated", "started_treatment", "procedure_attempted")


@dataclass(frozen=True)
class PosteriorExcess:
    prior_id: str
    """"uniform" or "jeffreys" (analysis.safety_monitoring.PRIORS)."""
    prior: str
    """The prior's name, e.g. "uniform Beta(1, 1)", the same for both arms."""
    prior_a: float
    prior_b: float
    probability: float
    """P(experimental rate − comparator rate > margin | data)."""
    difference_median: float
    difference_low: float
    difference_high: float
    credible_level: float


@dataclass(frozen=True)
class ArmSafety:
    arm: str
    label: str
    women: int
    """Women of the safety set in the arm."""
    women_with_serious_ae: int
    serious_aes: int


@dataclass(frozen=True)
class SafetyMonitoring:
    cut_off: dt.datetime
    """The data cut-off: every record entered before this moment is counted."""
    experimental_arm: str
    comparator_arm: str
    arms: tuple[ArmSafety, ...]
    margin: float | None
    """The excess the protocol sets (analysis_plan.serious_ae_margin); None: no posterior."""
    grouping: str
    """"received" (by treatment received) or "allocated"."""
    posteriors: tuple[PosteriorExcess, ...]
    no_posterior_reason: str | None
    """Why no posterior is given: "no_margin" (the protocol sets none) or "empty_arm" (an arm
    has no woman in the safety set); None when given."""


def safety_monitoring(
    study: Study, actor: Actor, *, now: dt.datetime | None = None
) -> SafetyMonitoring:
    """Serious AEs by arm of the reader's sites and the posterior excess, as of `now`."""
    cut_off = checked_moment(now)
    experimental, comparator = _arms_compared(study.protocol)
    with reading(study, actor, Operation.READ_SAFETY_MONITORING) as tx:
        participants = _participants_frame(tx)
        events = _serious_events_frame(tx)
    counts = monitoring.serious_events_by_arm(participants, events, [experimental, comparator])
    labels = {arm.id: arm.label for arm in study.protocol.arms}
    arms = tuple(
        ArmSafety(
            arm=str(row["arm"]),
            label=labels[str(row["arm"])],
            women=int(row["participants"]),
            women_with_serious_ae=int(row["participants_with_serious_ae"]),
            serious_aes=int(row["serious_aes"]),
        )
        for row in counts.to_dict("records")
    )
    margin = study.protocol.analysis_plan.serious_ae_margin
    reason = _no_posterior_reason(margin, arms)
    return SafetyMonitoring(
        cut_off=cut_off,
        experimental_arm=experimental,
        comparator_arm=comparator,
        arms=arms,
        margin=margin,
        grouping=_grouping(study.protocol),
        posteriors=() if reason or margin is None else _posteriors(arms, margin),
        no_posterior_reason=reason,
    )


def may_read_safety_monitoring(study: Study, actor: Actor) -> bool:
    """Whether her role may read the monitoring (a shell's link to it)."""
    return permitted(study, actor, Operation.READ_SAFETY_MONITORING)


def _arms_compared(protocol: Protocol) -> tuple[str, str]:
    """(experimental, comparator): the monitoring compares one EXPERIMENTAL arm with one other."""
    experimental = [a.id for a in protocol.arms if a.type.upper() == "EXPERIMENTAL"]
    others = [a.id for a in protocol.arms if a.id not in experimental]
    if len(protocol.arms) != 2 or len(experimental) != 1:
        raise InvalidInput(
            "input.invalid",
            field="arms",
            what=f"protocol {protocol.protocol_id}",
            problems="safety monitoring compares one EXPERIMENTAL arm with one other arm",
        )
    return experimental[0], others[0]


def _grouping(protocol: Protocol) -> str:
    sets = protocol.analysis_plan.analysis_sets
    return sets.safety.arm if sets is not None else "received"


def _participants_frame(tx: Tx) -> pd.DataFrame:
    """Her sites' enrolled participants: id, arm (as the plan groups), in_safety_set."""
    people = [p for p in tx.session.scalars(her_participants(tx.ctx)) if p.enrolled_on]
    ids = [p.id for p in people]
    query = select(Allocation.participant_id, Allocation.arm).where(
        Allocation.participant_id.in_(ids)
    )
    allocated = {pid: arm for pid, arm in tx.session.execute(query)}
    started = _having(tx, Cycle.participant_id, ids) | _having(
        tx, MedicationRecord.participant_id, ids
    )
    attempted = _having(tx, Procedure.participant_id, ids)
    rows = []
    for person in people:
        arm = allocated.get(person.id, person.arm)
        rows.append(
            {
                "participant_id": person.id,
                "allocated_arm": arm,
                "received_arm": _arm_received(tx.protocol, arm, person.id in attempted),
                "allocated": person.id in allocated,
                "started_treatment": person.id in started,
                "procedure_attempted": person.id in attempted,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=["participant_id", "allocated_arm", "received_arm", *DERIVED_VALUES],
    )
    by = "received_arm" if _grouping(tx.protocol) == "received" else "allocated_arm"
    return frame.assign(arm=frame[by], in_safety_set=_in_safety_set(tx.protocol, frame))


def _having(tx: Tx, column: InstrumentedAttribute[int], ids: Sequence[int]) -> set[int]:
    return set(tx.session.scalars(select(column).where(column.in_(ids)).distinct()))


def _arm_received(protocol: Protocol, arm: str | None, attempted: bool) -> str | None:
    """As the analysis dataset: an arm with procedures counts only when one was attempted;
    otherwise she had the arm without procedures (when the protocol has exactly one)."""
    if arm is None or attempted or not protocol.arm(arm).procedures:
        return arm
    plain = [a.id for a in protocol.arms if not a.procedures]
    return plain[0] if len(plain) == 1 else arm


def _in_safety_set(protocol: Protocol, frame: pd.DataFrame) -> list[bool]:
    """The protocol's safety-set rule over the derived values (DuckDB, as the report runs it);
    UNKNOWN puts her outside the set. Without a rule: everyone who started treatment."""
    sets = protocol.analysis_plan.analysis_sets
    if sets is None:
        return [bool(v) for v in frame["started_treatment"]]
    rule = check_expression(sets.safety.rule, readable_names(protocol))
    unknown = sorted(set(rule.items) - set(DERIVED_VALUES))
    if unknown:
        raise InvalidInput(
            "input.invalid",
            field="analysis_plan.analysis_sets.safety.rule",
            what=f"the safety set's rule {sets.safety.rule!r}",
            problems=f"it reads {', '.join(unknown)}; the safety page derives only "
            f"{', '.join(DERIVED_VALUES)} (the report computes it from the analysis dataset)",
        )
    connection = duckdb.connect()
    try:
        values = frame[list(DERIVED_VALUES)].assign(_row=range(len(frame)))
        connection.register("participants", values)
        query = f"SELECT COALESCE({rule.sql}, FALSE) FROM participants ORDER BY _row"
        return [bool(row[0]) for row in connection.execute(query).fetchall()]
    finally:
        connection.close()


def _serious_events_frame(tx: Tx) -> pd.DataFrame:
    query = (
        select(AdverseEvent.participant_id, AdverseEvent.serious)
        .join(Participant, Participant.id == AdverseEvent.participant_id)
        .where(of_her_sites(Participant.site_id, tx.ctx), AdverseEvent.serious.is_(True))
    )
    rows = [tuple(row) for row in tx.session.execute(query)]
    return pd.DataFrame(rows, columns=["participant_id", "serious"])


def _no_posterior_reason(margin: float | None, arms: tuple[ArmSafety, ...]) -> str | None:
    if margin is None:
        return "no_margin"
    if any(arm.women == 0 for arm in arms):
        return "empty_arm"
    return None


def _posteriors(arms: tuple[ArmSafety, ...], margin: float) -> tuple[PosteriorExcess, ...]:
    experimental, comparator = arms
    found = []
    for prior_id, prior in monitoring.PRIORS.items():
        probability, difference = monitoring.posterior_excess(
            experimental.women_with_serious_ae, experimental.women,
            comparator.women_with_serious_ae, comparator.women,
            margin=margin, prior=prior, label_a=experimental.arm, label_b=comparator.arm,
        )  # fmt: skip
        found.append(
            PosteriorExcess(
                prior_id=prior_id,
                prior=prior.name,
                prior_a=prior.a,
                prior_b=prior.b,
                probability=_value(probability.estimate),
                difference_median=_value(difference.estimate),
                difference_low=float(difference.low or 0.0),
                difference_high=float(difference.high or 0.0),
                credible_level=float(difference.confidence or 0.95),
            )
        )
    return tuple(found)


def _value(estimate: float | None) -> float:
    if estimate is None:  # posterior_excess always estimates; a None would be a bug there
        raise AssertionError("posterior_excess returned no estimate")
    return float(estimate)
