"""Outcome rules against the ICMART definitions and the seed protocol's settings."""

import datetime as dt

import pytest

from endotrial.errors import InputError
from endotrial.outcomes import (
    PregnancyFacts,
    derive_outcome,
    gestational_age_days,
    gestational_age_label,
    is_good_quality,
    parse_gardner,
)
from endotrial.protocol import Protocol


@pytest.mark.parametrize(
    ("grade", "good"),
    [("3BB", True), ("4AA", True), ("6AB", True), ("2AA", False), ("3CB", False), ("5BC", False)],
)
def test_good_quality_is_3bb_or_better(seed_protocol: Protocol, grade: str, good: bool) -> None:
    assert is_good_quality(parse_gardner(grade), seed_protocol) is good


@pytest.mark.parametrize("text", ["7AA", "4AD", "AA4", "", "4A"])
def test_malformed_grades_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="not a Gardner grade"):
        parse_gardner(text)


def test_day5_blastocyst_is_2w5d_on_transfer_day() -> None:
    transfer = dt.date(2026, 3, 1)
    assert gestational_age_label(gestational_age_days(transfer, 5, transfer)) == "2w5d"
    seven_weeks = gestational_age_days(transfer, 5, transfer + dt.timedelta(days=30))
    assert gestational_age_label(seven_weeks) == "7w0d"


def test_twin_sacs_are_one_clinical_pregnancy(seed_protocol: Protocol) -> None:
    outcome = derive_outcome(
        PregnancyFacts(embryos_transferred=2, beta_hcg_miu_ml=850, gestational_sacs=2),
        seed_protocol,
    )
    assert outcome.clinical_pregnancy is True
    assert (outcome.implantation_sacs, outcome.embryos_transferred) == (2, 2)
    assert outcome.biochemical_pregnancy is False


def test_hcg_without_sac_is_biochemical_never_clinical(seed_protocol: Protocol) -> None:
    outcome = derive_outcome(
        PregnancyFacts(embryos_transferred=1, beta_hcg_miu_ml=45, gestational_sacs=0),
        seed_protocol,
    )
    assert (outcome.clinical_pregnancy, outcome.biochemical_pregnancy) == (False, True)


def test_hcg_at_the_threshold_is_negative(seed_protocol: Protocol) -> None:
    outcome = derive_outcome(
        PregnancyFacts(embryos_transferred=1, beta_hcg_miu_ml=10), seed_protocol
    )
    assert outcome.positive_hcg is False and outcome.clinical_pregnancy is False


def test_ectopic_counts_as_clinical_but_not_ongoing(seed_protocol: Protocol) -> None:
    outcome = derive_outcome(
        PregnancyFacts(
            embryos_transferred=1, beta_hcg_miu_ml=300, gestational_sacs=0, ectopic=True
        ),
        seed_protocol,
    )
    assert outcome.clinical_pregnancy is True and outcome.ectopic_pregnancy is True
    assert outcome.ongoing_pregnancy is False and outcome.miscarriage is False


def test_unknown_until_the_ultrasound(seed_protocol: Protocol) -> None:
    outcome = derive_outcome(
        PregnancyFacts(embryos_transferred=1, beta_hcg_miu_ml=300), seed_protocol
    )
    assert outcome.positive_hcg is True and outcome.clinical_pregnancy is None


def test_cancelled_transfer_is_no_pregnancy(seed_protocol: Protocol) -> None:
    outcome = derive_outcome(PregnancyFacts(transfer_cancelled=True), seed_protocol)
    assert outcome.clinical_pregnancy is False and outcome.embryos_transferred == 0


@pytest.mark.parametrize(
    ("loss_weeks", "miscarriage", "live_birth"), [(9.0, True, False), (27.9, True, False)]
)
def test_loss_before_the_boundary_is_a_miscarriage(
    seed_protocol: Protocol, loss_weeks: float, miscarriage: bool, live_birth: bool
) -> None:
    outcome = derive_outcome(
        PregnancyFacts(
            embryos_transferred=1,
            beta_hcg_miu_ml=500,
            gestational_sacs=1,
            loss_gestational_weeks=loss_weeks,
        ),
        seed_protocol,
    )
    assert (outcome.miscarriage, outcome.live_birth) == (miscarriage, live_birth)


def test_live_birth_at_or_after_the_boundary(seed_protocol: Protocol) -> None:
    def born_at(weeks: float) -> bool | None:
        facts = PregnancyFacts(
            embryos_transferred=1,
            beta_hcg_miu_ml=500,
            gestational_sacs=1,
            fetal_heartbeat_12_weeks=True,
            delivery_gestational_weeks=weeks,
            live_born=1,
        )
        return derive_outcome(facts, seed_protocol).live_birth

    assert born_at(28.0) is True and born_at(39.0) is True
    assert born_at(27.0) is False


def test_delivery_without_the_live_born_count_is_not_yet_known(seed_protocol: Protocol) -> None:
    """Unknown count: unknown live birth. Stillbirth (0 born alive): no live birth. A baby born
    alive implies the pregnancy was ongoing at 12 weeks even without the 12-week scan."""

    def outcome(live_born: int | None) -> tuple[bool | None, bool | None]:
        facts = PregnancyFacts(
            embryos_transferred=1,
            beta_hcg_miu_ml=500,
            gestational_sacs=1,
            delivery_gestational_weeks=38.0,
            live_born=live_born,
        )
        derived = derive_outcome(facts, seed_protocol)
        return derived.live_birth, derived.ongoing_pregnancy

    assert outcome(None) == (None, None)
    assert outcome(0) == (False, None)
    assert outcome(2) == (True, True)
