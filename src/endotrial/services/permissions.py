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
    UNBLOCK_SIGN_IN = "unblock an account's sign-in"
    READ_TRIAL_DATA = "read participants' trial data"
    READ_QUERIES = "read data queries"


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
    Operation.WITHDRAW: frozenset({COORDINATOR, INVESTIGATOR}),
    # Those who do the clinical act record it.
    Operation.RECORD_PROCEDURE: frozenset({RADIOLOGIST, INVESTIGATOR}),
    Operation.RECORD_ULTRASOUND: frozenset({COORDINATOR, INVESTIGATOR, RADIOLOGIST}),
    Operation.CORRECT_ULTRASOUND: frozenset({COORDINATOR, INVESTIGATOR, RADIOLOGIST}),
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
    Operation.UNBLOCK_SIGN_IN: frozenset({INVESTIGATOR}),
    # Reading: everyone on the team reads the trial's data of her sites (the statistician and
    # the safety board read it for the analysis; identifying data are never part of it).
    Operation.READ_TRIAL_DATA: frozenset(Role),
    Operation.READ_QUERIES: frozenset(Role),
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


def who_may(operation: Operation) -> str:
    roles = " or ".join(sorted(r.value for r in PERMISSIONS[operation]))
    return f"only an active {roles} may"
