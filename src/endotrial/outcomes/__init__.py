"""Outcome rules: embryo grades, gestational dating and pregnancy outcomes, as the protocol defines.

Pure functions of the protocol and recorded facts; services store the facts and call these, so an
outcome is always computed from data and never typed in.
"""

from endotrial.outcomes.dating import gestational_age_days, gestational_age_label
from endotrial.outcomes.gardner import GardnerGrade, is_good_quality, parse_gardner
from endotrial.outcomes.pregnancy import PregnancyFacts, PregnancyOutcome, derive_outcome

__all__ = [
    "GardnerGrade",
    "PregnancyFacts",
    "PregnancyOutcome",
    "derive_outcome",
    "gestational_age_days",
    "gestational_age_label",
    "is_good_quality",
    "parse_gardner",
]
