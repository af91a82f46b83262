"""Who may do what: every operation of the services and the roles allowed to do it.

Each operation authorizes its signed-in actor first thing in its transaction (services.context),
so a refused user writes nothing; reads are operations too, with the roles that may read. Edit
checks that open queries inside another operation act for that operation, not for a user.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from endotrial.services.errors import PermissionDenied
from endotrial.store import Role, User


class Operation(enum.StrEnum):
    """The operations users perform (the value is how messages name them)."""

    SCREEN = "screen candidates"
    RECORD_CONSENT = "record a consent"
    ENROL = "enrol"
    ALLOCATE = "allocate to an arm"
    START_CYCLE = "start a cycle"
    RECORD_MEDICATION = "record medication"
    RECORD_PROCEDURE = "record the infusion procedure"
    RECORD_ULTRASOUND = "record an ultrasound"
    CORRECT_ULTRASOUND = "correct an ultrasound"
    RECORD_TRANSFER = "record an embryo transfer"
    RECORD_OUTCOME = "record a pregnancy outcome"
    RECORD_VISIT = "record a scheduled visit"
    RECORD_MEASUREMENT = "record an outcome measurement"
    CORRECT_MEASUREMENT = "correct an outcome measurement"
    REPORT_ADVERSE_EVENT = "report an adverse event"
    RECORD_DEVIATION = "record a protocol deviation"
    WITHDRAW = "withdraw a participant"
    OPEN_QUERY = "open a query"
    ANSWER_QUERY = "answer a query"
    CLOSE_QUERY = "close a query"
    LOCK = "lock a participant's data"
    UNLOCK = "unlock a participant's data"
    ADD_SITE = "add a site"
    ADD_USER = "add a study-team account"
    SET_ACCOUNT_ACTIVE = "deactivate or reactivate an account"
    SET_SITE_MEMBERSHIP = "add or remove a team member's site"
    RECORD_IDENTITY = "record who a participant is"
    READ_IDENTITY = "read who a participant is"
    ERASE_IDENTITY = "erase a participant's identity"
    UNBLOCK_SIGN_IN = "unblock an account's sign-in"
    SET_OWN_LANGUAGE = "choose the language of her own pages"
    READ_OWN_ACCOUNT = "read her own account"
    READ_TRIAL_DATA = "read participants' trial data"
    READ_QUERIES = "read data queries"
    READ_PARTICIPANTS = "read a participant's page (summary and timeline)"
    READ_SCREENING_LOG = "read the screening log"
    READ_ADVERSE_EVENTS = "read adverse events"
    READ_MEDICATION = "read medication records"
    READ_VISITS_DUE = "read the visits due"
    READ_DASHBOARD = "read the trial's dashboard"
    READ_SAFETY_MONITORING = "read the interim safety monitoring"
    READ_TEAM = "read the team of her sites"


INVESTIGATOR = Role.INVESTIGATOR
COORDINATOR = Role.COORDINATOR
RADIOLOGIST = Role.RADIOLOGIST
EMBRYOLOGIST = Role.EMBRYOLOGIST
MONITOR = Role.MONITOR

#: The roles allowed to do each operation. The investigator delegates trial duties to her team
#: and stays responsible for all of them (ICH E6(R2) 4.1.5), so she may do every operation.
#: Roles absent from every row: the statistician and the safety board read the analysis dataset
#: and reports and write no trial data (their independence depends on it); the cell lab releases
#: the product, but the procedure service records the infusion as one form (dose, lot and
#: viability as given at the bedside), so the radiologist who gives it records it.
PERMISSIONS: Mapping[Operation, frozenset[Role]] = {
    # The site's research team runs recruitment and follow-up visits.
    Operation.SCREEN: frozenset({COORDINATOR, INVESTIGATOR}),
    Operation.RECORD_CONSENT: frozenset({COORDINATOR, INVESTIGATOR}),
    Operation.ENROL: frozenset({COORDINATOR, INVESTIGATOR}),
    # Choosing the arm (non-randomized: a medical judgement with its basis) is the investigator's.
    Operation.ALLOCATE: frozenset({INVESTIGATOR}),
    Operation.START_CYCLE: frozenset({COORDINATOR, INVESTIGATOR}),
    Operation.RECORD_MEDICATION: frozenset({COORDINATOR, INVESTIGATOR}),
    Operation.RECORD_OUTCOME: frozenset({COORDINATOR, INVESTIGATOR}),
    # Safety visits and pregnancy follow-ups are the clinic's (the radiologist scans, she does
    # not see the participant at these visits).
    Operation.RECORD_VISIT: frozenset({COORDINATOR, INVESTIGATOR}),
    Operation.WITHDRAW: frozenset({COORDINATOR, INVESTIGATOR}),
    # Those who do the clinical act record it.
    Operation.RECORD_PROCEDURE: frozenset({RADIOLOGIST, INVESTIGATOR}),
    Operation.RECORD_ULTRASOUND: frozenset({COORDINATOR, INVESTIGATOR, RADIOLOGIST}),
    Operation.CORRECT_ULTRASOUND: frozenset({COORDINATOR, INVESTIGATOR, RADIOLOGIST}),
    # Outcome measurements are taken at follow-up (the clinic's) or by imaging (the
    # radiologist's), as scans are.
    Operation.RECORD_MEASUREMENT: frozenset({COORDINATOR, INVESTIGATOR, RADIOLOGIST}),
    Operation.CORRECT_MEASUREMENT: frozenset({COORDINATOR, INVESTIGATOR, RADIOLOGIST}),
    Operation.RECORD_TRANSFER: frozenset({EMBRYOLOGIST, COORDINATOR, INVESTIGATOR}),
    # Anyone caring for the participant who learns of an adverse event reports it.
    Operation.REPORT_ADVERSE_EVENT: frozenset(
        {COORDINATOR, INVESTIGATOR, RADIOLOGIST, EMBRYOLOGIST}
    ),
    # Monitors find deviations and raise queries; the site answers; the monitor closes when
    # satisfied (the site does not close its own queries).
    Operation.RECORD_DEVIATION: frozenset({COORDINATOR, INVESTIGATOR, MONITOR}),
    Operation.OPEN_QUERY: frozenset({MONITOR, INVESTIGATOR, COORDINATOR}),
    Operation.ANSWER_QUERY: frozenset({COORDINATOR, INVESTIGATOR, RADIOLOGIST, EMBRYOLOGIST}),
    Operation.CLOSE_QUERY: frozenset({MONITOR, INVESTIGATOR}),
    # Sign-off, and the team itself, are the investigator's (on a new installation the site and
    # the first account come first: see authorize_setup).
    Operation.LOCK: frozenset({INVESTIGATOR}),
    Operation.UNLOCK: frozenset({INVESTIGATOR}),
    Operation.ADD_SITE: frozenset({INVESTIGATOR}),
    Operation.ADD_USER: frozenset({INVESTIGATOR}),
    Operation.SET_ACCOUNT_ACTIVE: frozenset({INVESTIGATOR}),
    Operation.SET_SITE_MEMBERSHIP: frozenset({INVESTIGATOR}),
    # Identity: the site's team who meets her knows who she is; the monitor checks source
    # documents; the statistician, the safety board and the cell lab never see it. Erasing it
    # (her right under PIPL) is the investigator's act.
    Operation.RECORD_IDENTITY: frozenset({COORDINATOR, INVESTIGATOR}),
    Operation.READ_IDENTITY: frozenset(
        {COORDINATOR, INVESTIGATOR, RADIOLOGIST, EMBRYOLOGIST, MONITOR}
    ),
    Operation.ERASE_IDENTITY: frozenset({INVESTIGATOR}),
    Operation.UNBLOCK_SIGN_IN: frozenset({INVESTIGATOR}),
    # Her own account: everyone reads it and chooses the language of her pages.
    Operation.SET_OWN_LANGUAGE: frozenset(Role),
    Operation.READ_OWN_ACCOUNT: frozenset(Role),
    # Reading: everyone on the team reads the trial's data of her sites (the statistician and
    # the safety board read it for the analysis; identifying data are never part of it).
    Operation.READ_TRIAL_DATA: frozenset(Role),
    Operation.READ_QUERIES: frozenset(Role),
    # The read side (services.reads), always limited to the reader's sites and never showing
    # identifying data (a candidate appears by pseudonym, a participant by study id):
    # - the site's care team (investigator, coordinator, radiologist, embryologist) reads the
    #   participants it looks after, their AEs, medication and visits; the monitor reads all
    #   of it, and the screening log, for source-data verification (ICH E6(R2) 5.18.4);
    # - the screening log (who was screened and why not eligible) is recruitment's business:
    #   investigator, coordinator, monitor;
    # - the cell lab plans each product from the visits due (infusion dates), no more;
    # - the statistician and the safety board read no participant's page (they work on the
    #   analysis dataset); the safety board reads the adverse events (its review of safety),
    #   and everyone reads the dashboard's counts of her sites.
    Operation.READ_PARTICIPANTS: frozenset(
        {INVESTIGATOR, COORDINATOR, RADIOLOGIST, EMBRYOLOGIST, MONITOR}
    ),
    Operation.READ_SCREENING_LOG: frozenset({INVESTIGATOR, COORDINATOR, MONITOR}),
    Operation.READ_ADVERSE_EVENTS: frozenset(
        {INVESTIGATOR, COORDINATOR, RADIOLOGIST, EMBRYOLOGIST, MONITOR, Role.SAFETY_BOARD}
    ),
    Operation.READ_MEDICATION: frozenset(
        {INVESTIGATOR, COORDINATOR, RADIOLOGIST, EMBRYOLOGIST, MONITOR}
    ),
    Operation.READ_VISITS_DUE: frozenset(
        {INVESTIGATOR, COORDINATOR, RADIOLOGIST, EMBRYOLOGIST, Role.CELL_LAB, MONITOR}
    ),
    Operation.READ_DASHBOARD: frozenset(Role),
    # Interim safety monitoring (serious AEs by arm, the posterior excess) is the safety
    # board's review; the statistician prepares it and the investigator answers for safety.
    Operation.READ_SAFETY_MONITORING: frozenset(
        {Role.SAFETY_BOARD, Role.STATISTICIAN, INVESTIGATOR}
    ),
    # The team (accounts, their roles and sites) is managed by the investigator.
    Operation.READ_TEAM: frozenset({INVESTIGATOR}),
}


def authorize(user: User, operation: Operation) -> None:
    """Refuse unless the active account `user` has a role that may do `operation`."""
    if not user.active:
        raise PermissionDenied(
            "auth.deactivated",
            username=user.username,
            role=user.role.value,
            operation=str(operation),
            who_may=who_may(operation),
        )
    if user.role not in PERMISSIONS[operation]:
        raise PermissionDenied(
            "auth.role",
            username=user.username,
            role=user.role.value,
            operation=str(operation),
            who_may=who_may(operation),
        )


def operations_of(role: Role) -> frozenset[Operation]:
    """Every operation `role` may do."""
    return frozenset(op for op, roles in PERMISSIONS.items() if role in roles)


def who_may(operation: Operation) -> str:
    roles = " or ".join(sorted(r.value for r in PERMISSIONS[operation]))
    return f"only an active {roles} may"


#: The tables each write operation may change (edit checks open data queries as part of the
#: operation). With PERMISSIONS it says which roles may have written a table: what `audit
#: verify` checks every entry of the trail against.
OPERATION_TABLES: Mapping[Operation, frozenset[str]] = {
    Operation.SCREEN: frozenset({"screenings", "persons", "person_identity"}),
    Operation.RECORD_CONSENT: frozenset({"consents", "participants", "screenings"}),
    Operation.ENROL: frozenset({"participants"}),
    Operation.ALLOCATE: frozenset({"allocations", "participants"}),
    Operation.START_CYCLE: frozenset({"cycles", "data_queries"}),
    Operation.RECORD_MEDICATION: frozenset({"medication_records", "data_queries"}),
    Operation.RECORD_PROCEDURE: frozenset({"procedures", "data_queries"}),
    Operation.RECORD_ULTRASOUND: frozenset({"ultrasounds", "data_queries"}),
    Operation.CORRECT_ULTRASOUND: frozenset({"ultrasounds"}),
    # A corrected transfer date or embryo day derives the pregnancy outcome again.
    Operation.RECORD_TRANSFER: frozenset(
        {"embryo_transfers", "transferred_embryos", "pregnancy_outcomes", "data_queries"}
    ),
    Operation.RECORD_OUTCOME: frozenset({"pregnancy_outcomes", "data_queries"}),
    Operation.RECORD_VISIT: frozenset({"visits", "data_queries"}),
    Operation.RECORD_MEASUREMENT: frozenset({"measurements", "data_queries"}),
    Operation.CORRECT_MEASUREMENT: frozenset({"measurements"}),
    Operation.REPORT_ADVERSE_EVENT: frozenset({"adverse_events"}),
    Operation.RECORD_DEVIATION: frozenset({"protocol_deviations"}),
    Operation.WITHDRAW: frozenset({"withdrawals", "participants"}),
    Operation.OPEN_QUERY: frozenset({"data_queries"}),
    Operation.ANSWER_QUERY: frozenset({"data_queries"}),
    Operation.CLOSE_QUERY: frozenset({"data_queries"}),
    Operation.LOCK: frozenset({"participant_locks"}),
    Operation.UNLOCK: frozenset({"participant_locks"}),
    Operation.ADD_SITE: frozenset({"sites"}),
    Operation.ADD_USER: frozenset({"users", "site_memberships"}),
    Operation.SET_ACCOUNT_ACTIVE: frozenset({"users"}),
    Operation.SET_OWN_LANGUAGE: frozenset({"users"}),
    Operation.SET_SITE_MEMBERSHIP: frozenset({"site_memberships", "users"}),
    Operation.RECORD_IDENTITY: frozenset({"persons", "person_identity", "screenings"}),
    Operation.ERASE_IDENTITY: frozenset({"persons", "person_identity"}),
}


#: Tables any write may add to: the protocol the database runs is recorded by the first write to
#: a database set up before it was kept (store revision 0005), whoever makes it.
ANY_WRITE_TABLES = frozenset({"trial_protocols"})


def table_writers() -> dict[str, frozenset[Role]]:
    """For each table, the roles whose operations may write it."""
    writers: dict[str, set[Role]] = {}
    for operation, tables in OPERATION_TABLES.items():
        for table in tables:
            writers.setdefault(table, set()).update(PERMISSIONS[operation])
    every_writer = {role for roles in writers.values() for role in roles}
    for table in ANY_WRITE_TABLES:
        writers[table] = every_writer
    return {table: frozenset(roles) for table, roles in writers.items()}
