"""Pregnancy outcomes derived from recorded facts by the ICMART definitions in the protocol.

Each outcome is True, False, or None while it cannot be known yet (e.g. the ultrasound is not done).
"""

from __future__ import annotations

from dataclasses import dataclass

from endotrial.protocol.models import Protocol
from endotrial.protocol.settings import BETA_HCG_POSITIVE_MIU_ML, PREGNANCY_LOSS_BOUNDARY_WEEKS


@dataclass(frozen=True)
class PregnancyFacts:
    """What the team records after a transfer (or its cancellation)."""

    transfer_cancelled: bool = False
    embryos_transferred: int = 0
    beta_hcg_miu_ml: float | None = None
    gestational_sacs: int | None = None
    ectopic: bool = False
    fetal_heartbeat_12_weeks: bool | None = None
    loss_gestational_weeks: float | None = None
    delivery_gestational_weeks: float | None = None
    live_born: int | None = None


@dataclass(frozen=True)
class PregnancyOutcome:
    positive_hcg: bool | None
    clinical_pregnancy: bool | None
    biochemical_pregnancy: bool | None
    implantation_sacs: int | None
    embryos_transferred: int
    ectopic_pregnancy: bool | None
    miscarriage: bool | None
    ongoing_pregnancy: bool | None
    live_birth: bool | None


def derive_outcome(facts: PregnancyFacts, protocol: Protocol) -> PregnancyOutcome:
    if facts.transfer_cancelled:
        # A cancelled transfer is no pregnancy (composite strategy of the estimand).
        return PregnancyOutcome(False, False, False, None, 0, False, False, False, False)
    positive = _positive_hcg(facts, protocol)
    clinical = _clinical(facts, positive)
    boundary_weeks = PREGNANCY_LOSS_BOUNDARY_WEEKS.number(protocol)
    return PregnancyOutcome(
        positive_hcg=positive,
        clinical_pregnancy=clinical,
        biochemical_pregnancy=None if clinical is None else bool(positive and not clinical),
        implantation_sacs=_sacs(facts, positive),
        embryos_transferred=facts.embryos_transferred,
        ectopic_pregnancy=None if clinical is None else facts.ectopic,
        miscarriage=_miscarriage(facts, clinical, boundary_weeks),
        ongoing_pregnancy=_ongoing(facts, clinical),
        live_birth=_live_birth(facts, clinical, boundary_weeks),
    )


def _sacs(facts: PregnancyFacts, positive: bool | None) -> int | None:
    """Sacs seen, for the implantation rate; none after a negative test."""
    if positive is False:
        return 0
    return facts.gestational_sacs if positive else None


def _positive_hcg(facts: PregnancyFacts, protocol: Protocol) -> bool | None:
    if facts.beta_hcg_miu_ml is None:
        return None
    return facts.beta_hcg_miu_ml > BETA_HCG_POSITIVE_MIU_ML.number(protocol)


def _clinical(facts: PregnancyFacts, positive: bool | None) -> bool | None:
    if positive is False:
        return False
    if facts.ectopic or (facts.gestational_sacs or 0) >= 1:
        return True  # several sacs are one clinical pregnancy; ectopic included
    if facts.gestational_sacs == 0:
        return False
    return None


def _intrauterine(facts: PregnancyFacts, clinical: bool | None) -> bool | None:
    return None if clinical is None else clinical and not facts.ectopic


def _miscarriage(facts: PregnancyFacts, clinical: bool | None, boundary: float) -> bool | None:
    intrauterine = _intrauterine(facts, clinical)
    if not intrauterine:
        return intrauterine
    if facts.loss_gestational_weeks is not None:
        return facts.loss_gestational_weeks < boundary
    return False if facts.delivery_gestational_weeks is not None else None


def _ongoing(facts: PregnancyFacts, clinical: bool | None) -> bool | None:
    intrauterine = _intrauterine(facts, clinical)
    if not intrauterine:
        return intrauterine
    if facts.loss_gestational_weeks is not None and facts.loss_gestational_weeks < 12:
        return False
    if facts.fetal_heartbeat_12_weeks is None and _born_alive_after(facts, 12):
        return True  # a baby born alive later had a heartbeat at 12 weeks
    return facts.fetal_heartbeat_12_weeks


def _born_alive_after(facts: PregnancyFacts, weeks: float) -> bool:
    delivered = facts.delivery_gestational_weeks
    return delivered is not None and delivered >= weeks and (facts.live_born or 0) >= 1


def _live_birth(facts: PregnancyFacts, clinical: bool | None, boundary: float) -> bool | None:
    intrauterine = _intrauterine(facts, clinical)
    if not intrauterine:
        return intrauterine
    if facts.loss_gestational_weeks is not None and facts.loss_gestational_weeks < boundary:
        return False
    if facts.delivery_gestational_weeks is None or facts.live_born is None:
        return None  # not delivered yet, or the number born alive is not recorded
    return _born_alive_after(facts, boundary)
