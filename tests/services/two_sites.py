"""A second hospital beside the seed trial's: its own investigator, coordinator and monitor."""

from dataclasses import dataclass

from services_helpers import INVESTIGATOR, PASSWORD, Trial, eligible_items

from endotrial.services import (
    Actor,
    CandidateInput,
    SiteInput,
    TeamMember,
    add_site,
    add_user,
    screen,
    sign_in,
)
from endotrial.store import Role

SITE_B_INVESTIGATOR = "pi.b"
SITE_B_COORDINATOR = "coord.b"
SITE_B_MONITOR = "monitor.b"


@dataclass(frozen=True)
class SiteB:
    site_id: int
    investigator: Actor
    coordinator: Actor
    monitor: Actor


def add_site_b(trial: Trial) -> SiteB:
    """Site B, added by the (central) first investigator, with its own team."""
    pi = trial.actor(INVESTIGATOR)
    site_id = add_site(trial.study, pi, SiteInput(code="SZ2", name="Second Hospital"))
    for username, role in (
        (SITE_B_INVESTIGATOR, Role.INVESTIGATOR),
        (SITE_B_COORDINATOR, Role.COORDINATOR),
        (SITE_B_MONITOR, Role.MONITOR),
    ):
        member = TeamMember(
            username=username, full_name=username, role=role, password=PASSWORD, site_id=site_id
        )
        add_user(trial.study, pi, member)
    return SiteB(
        site_id,
        *(
            sign_in(trial.study, name, PASSWORD)
            for name in (SITE_B_INVESTIGATOR, SITE_B_COORDINATOR, SITE_B_MONITOR)
        ),
    )


def screen_at(trial: Trial, actor: Actor, site_id: int, ref: str, **changes: object) -> int:
    candidate = CandidateInput(candidate_ref=ref, items=eligible_items(**changes), site_id=site_id)
    return screen(trial.study, actor, candidate).screening_id
