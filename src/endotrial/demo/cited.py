"""Which profile a run draws from: the seed trial's cited one, or a synthetic one."""

from __future__ import annotations

from endotrial.demo import effects as fx
from endotrial.demo.population import candidate_pool
from endotrial.demo.profile import Profile, ScanEffect, synthetic_profile
from endotrial.demo.synthetic_population import synthetic_pool
from endotrial.protocol import Protocol


def profile_for(protocol: Protocol) -> Profile:
    """The cited profile for the protocol its values are cited for (and only while the file
    still has the arms they name); a synthetic profile for any other."""
    arms = tuple(arm.id for arm in protocol.arms)
    if protocol.protocol_id == fx.CITED_PROTOCOL and arms == fx.CITED_ARMS:
        return cited_profile()
    return synthetic_profile(protocol, synthetic_pool)


def cited_profile() -> Profile:
    """The seed trial's values, each cited or labelled as assumed in `effects`."""
    return Profile(
        cited=True,
        provenance="effect sizes cited in endotrial.demo.effects (sources and assumptions there)",
        population=candidate_pool,
        site_code=fx.SITE[0],
        site_name=fx.SITE[1],
        baseline_thickness_mm=fx.BASELINE_THICKNESS_MM,
        scan_effects={
            event: ScanEffect(gains, noise) for event, (gains, noise) in fx.SCAN_EFFECTS.items()
        },
        p_clinical_pregnancy=fx.P_CLINICAL_PREGNANCY,
        procedure_aes=fx.PROCEDURE_AES,
        regimen_aes=fx.HRT_AES,
        allocation_basis=fx.ALLOCATION_BASIS,
        procedure_word="infusions",
        release_results=fx.RELEASE_RESULTS,
    )
