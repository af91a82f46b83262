"""Medication records: each period of a drug taken, with its doses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Study, reading
from endotrial.services.permissions import Operation
from endotrial.services.reads._records import first_day
from endotrial.store import Cycle, MedicationRecord


@dataclass(frozen=True)
class MedicationView:
    record_id: int
    participant_id: int
    regimen_id: str
    drug: str
    cycle: str | None
    """The protocol's cycle id the period falls in."""
    first_day: dt.date
    last_day: dt.date
    doses_taken: int
    doses_planned: int

    @property
    def adherence_pct(self) -> float | None:
        """Doses taken of those planned, in %."""
        if self.doses_planned == 0:
            return None
        return round(100 * self.doses_taken / self.doses_planned, 1)


def medication(study: Study, actor: Actor, participant_id: int) -> tuple[MedicationView, ...]:
    """Her medication periods, by last day; another site's participant is not found."""
    participant_id = as_id(participant_id, "participant_id")
    with reading(study, actor, Operation.READ_MEDICATION) as tx:
        readable_participant(tx, participant_id)
        regimens = {r.id: r for r in tx.protocol.regimens}
        query = (
            select(MedicationRecord, Cycle.kind)
            .outerjoin(Cycle, Cycle.id == MedicationRecord.cycle_id)
            .where(MedicationRecord.participant_id == participant_id)
            .order_by(MedicationRecord.last_day, MedicationRecord.id)
        )
        views = []
        for row, cycle in tx.session.execute(query):
            regimen = regimens.get(row.regimen_id)
            views.append(
                MedicationView(
                    record_id=row.id,
                    participant_id=row.participant_id,
                    regimen_id=row.regimen_id,
                    drug=regimen.drug if regimen is not None else row.regimen_id,
                    cycle=cycle,
                    first_day=first_day(row, regimen.doses_per_day if regimen else 1),
                    last_day=row.last_day,
                    doses_taken=row.doses_taken,
                    doses_planned=row.doses_planned,
                )
            )
        return tuple(views)
