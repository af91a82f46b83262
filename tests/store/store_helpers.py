"""Small builders shared by the store tests."""

from datetime import date

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.store import AuditEntry, Participant, Site, unit_of_work


def enrol_participant(engine: Engine, study_id: str = "P001", user: str = "coord1") -> int:
    """A site and one participant, entered in one unit of work; returns the participant id."""
    with unit_of_work(engine, user=user) as session:
        site = session.scalar(select(Site).where(Site.code == "GZ6"))
        if site is None:
            site = Site(code="GZ6", name="Sixth Affiliated Hospital")
            session.add(site)
            session.flush()
        participant = Participant(study_id=study_id, site_id=site.id, status="screened")
        session.add(participant)
        session.flush()
        return participant.id


def audit_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def audit_rows(engine: Engine, entity: str, row_id: int) -> list[AuditEntry]:
    with Session(engine) as session:
        query = (
            select(AuditEntry)
            .where(AuditEntry.entity == entity, AuditEntry.row_id == str(row_id))
            .order_by(AuditEntry.seq)
        )
        return list(session.scalars(query))


TODAY = date(2025, 10, 1)
