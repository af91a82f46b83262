"""The seed's five related trials, bundled as protocol files (issue 9): each loads, validates
and shows by its id; holds the registry facts of ../shared/seed/related-trials.md as gathered
and labels what it adds as an assumption; builds the schedule of every arm; and doses its
fixed number of cells whatever the weight."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.dosing import compute_dose
from endotrial.dosing.engine import arm_dose_rule
from endotrial.protocol import (
    Protocol,
    bundled_protocol_files,
    default_protocol_id,
    load_protocol,
)
from endotrial.protocol import settings as setting_specs
from endotrial.protocol.models import EventRole, Route
from endotrial.protocol.settings import Feature, SettingSpec
from endotrial.protocol.summary import assumptions
from endotrial.schedule import build_schedule

runner = CliRunner()
SEED = "nct07176143"
RELATED = ["nct02065167", "nct03181087", "nct03386708", "nct03724617", "nct05495711"]

#: The registry facts of each related trial ([V] in related-trials.md), as the file must hold them.
FACTS: dict[str, dict[str, Any]] = {
    "nct03724617": {
        "sponsor": "Sir Run Run Shaw Hospital (Zhejiang University)",
        "phase": "NA",
        "overall_status": "COMPLETED",
        "enrollment": (18, "ACTUAL"),
        "dates": (dt.date(2018, 10, 29), dt.date(2020, 12, 31)),
        "model": "SINGLE_GROUP",
        "sex_ages": ("FEMALE", 20, 40),
        "routes": {Route.intrauterine_scaffold},
        "cells": {"scaffold_msc": 2e7},
        "times_given": 2,
    },
    "nct05495711": {
        "sponsor": "Sclnow Biotechnology Co., Ltd.",
        "phase": "PHASE1",
        "enrollment": (24, "ESTIMATED"),
        "start": dt.date(2020, 5, 1),
        "model": "PARALLEL",
        "allocation": "RANDOMIZED",
        "sex_ages": ("FEMALE", 20, 39),
        "routes": {Route.intrauterine_injection},
        "cells": {"low_dose": 1e7, "high_dose": 2e7},
        "times_given": 1,
    },
    "nct03386708": {
        "sponsor": "Sclnow Biotechnology Co., Ltd.",
        "phase": "PHASE1",
        "overall_status": "COMPLETED",
        "enrollment": (10, "ACTUAL"),
        "model": "SINGLE_GROUP",
        "sex_ages": ("FEMALE", 18, 40),
        "routes": {Route.intrauterine_injection},
        "cells": {"huc_msc": 1e7},
        "times_given": 2,
    },
    "nct03181087": {
        "sponsor": "Maternal and Child Health Hospital of Foshan",
        "phase": "PHASE1",
        "overall_status": "WITHDRAWN",
        "enrollment": (0, "ACTUAL"),
        "dates": (dt.date(2021, 12, 11), dt.date(2022, 10, 31)),
        "model": "SINGLE_GROUP",
        "sex_ages": ("FEMALE", 21, 35),
        "healthy_volunteers": True,
        "routes": {Route.intramyometrial},
        "cells": {"uc_msc": 1e7},
        "volume_ml": 1.0,
        "times_given": 1,
    },
    "nct02065167": {
        "sponsor": "Universidad Autónoma de Madrid",
        "phase": "PHASE2",
        "overall_status": "COMPLETED",
        "enrollment": (26, "ACTUAL"),
        "sex_ages": ("ALL", 18, 65),
        "routes": {Route.intraosseous},
        "cells": {"bm_msc": 1.4e8},
        "times_given": 1,
    },
}


@pytest.fixture(scope="module")
def protocols() -> dict[str, Protocol]:
    return {protocol_id: load_protocol(protocol_id) for protocol_id in [SEED, *RELATED]}


def test_all_six_are_bundled_and_listed() -> None:
    assert sorted(bundled_protocol_files()) == sorted([SEED, *RELATED])
    result = runner.invoke(app, ["protocol", "list"])
    assert result.exit_code == 0, result.output
    listed = [line.split("\t")[:2] for line in result.output.splitlines()]
    assert listed == [[p, p.upper()] for p in sorted([SEED, *RELATED])]


def test_the_seed_stays_the_default_whatever_sorts_first() -> None:
    """A related trial's id sorts before the seed's (nct02065167): the default protocol of
    every command is still the seed (before: the first bundled id in sorted order)."""
    assert sorted(bundled_protocol_files())[0] == "nct02065167"
    assert default_protocol_id() == SEED
    assert load_protocol().protocol_id == SEED
    result = runner.invoke(app, ["protocol", "show"])
    assert result.exit_code == 0 and result.output.startswith("NCT07176143")


@pytest.mark.parametrize("protocol_id", RELATED)
def test_validate_and_show_by_id(protocol_id: str) -> None:
    validated = runner.invoke(app, ["protocol", "validate", protocol_id.upper()])
    assert validated.exit_code == 0, validated.output
    assert f"valid protocol {protocol_id}" in validated.output
    shown = runner.invoke(app, ["protocol", "show", protocol_id, "--assumptions"])
    assert shown.exit_code == 0, shown.output
    assert "whatever the weight" in shown.output  # every related trial's dose is fixed
    assert "Assumptions (values the registry leaves open):" in shown.output
    as_json = runner.invoke(app, ["protocol", "show", protocol_id, "--json"])
    assert as_json.exit_code == 0 and f'"nct_id": "{protocol_id.upper()}"' in as_json.output


@pytest.mark.parametrize("protocol_id", RELATED)
def test_the_registry_facts_are_held_as_gathered(
    protocols: dict[str, Protocol], protocol_id: str
) -> None:
    protocol, facts = protocols[protocol_id], FACTS[protocol_id]
    identity, design = protocol.identity, protocol.design
    assert identity.nct_id == protocol_id.upper()
    assert identity.sponsor == facts["sponsor"] and identity.phase == facts["phase"]
    assert (identity.enrollment_target, identity.enrollment_type) == facts["enrollment"]
    if "overall_status" in facts:
        assert identity.overall_status == facts["overall_status"]
    if "dates" in facts:
        assert (identity.start_date, identity.completion_date) == facts["dates"]
    if "start" in facts:
        assert identity.start_date == facts["start"]
    if "model" in facts:  # NCT02065167's single group is an assumption, not a fact
        assert design.intervention_model == facts["model"]
        assert design.allocation == facts.get("allocation", "NA")
    assert (design.sex, design.minimum_age_years, design.maximum_age_years) == facts["sex_ages"]
    assert design.healthy_volunteers is facts.get("healthy_volunteers", False)
    assert {i.route for i in protocol.interventions if i.route} == facts["routes"]
    assert SEED.upper() in identity.related_trials


@pytest.mark.parametrize("protocol_id", RELATED)
def test_its_fixed_dose_whatever_the_weight(
    protocols: dict[str, Protocol], protocol_id: str
) -> None:
    """Each arm's dose is its fixed cells for no weight, a light and a heavy one alike."""
    protocol = protocols[protocol_id]
    for arm_id, cells in FACTS[protocol_id]["cells"].items():
        rule = arm_dose_rule(protocol, arm_id)
        assert rule is not None and rule.kind == "fixed"
        for weight_kg in (None, 40.0, 75.0, 140.0):
            plan = compute_dose(rule, weight_kg)
            assert (plan.dose_viable_cells, plan.capped) == (cells, False)
            assert plan.weight_kg == weight_kg
        if "volume_ml" in FACTS[protocol_id]:
            assert rule.volume_ml == FACTS[protocol_id]["volume_ml"]


@pytest.mark.parametrize("protocol_id", RELATED)
def test_every_arms_schedule_builds_with_each_procedure_as_often_as_given(
    protocols: dict[str, Protocol], protocol_id: str
) -> None:
    protocol = protocols[protocol_id]
    roots = [e.id for e in protocol.schedule if e.anchor is None and e.cycle is None]
    assert len(roots) == 1
    for arm in protocol.arms:
        schedule = build_schedule(protocol, arm.id, {roots[0]: dt.date(2020, 1, 6)})
        procedures = [e for e in schedule if e.kind == "procedure"]
        assert len(procedures) == FACTS[protocol_id]["times_given"]
        measured = {m.event for m in protocol.outcome_measures}
        measured |= {m.baseline_event for m in protocol.outcome_measures if m.baseline_event}
        assert measured <= {e.id for e in schedule}


def test_nct03724617_two_placements_28_days_apart_and_thickness_182_days_after() -> None:
    protocol = load_protocol("nct03724617")
    schedule = build_schedule(protocol, "scaffold_msc", {"menses_1": dt.date(2019, 3, 22)})
    first, second = (e for e in schedule if e.kind == "procedure")
    assert (first.date, second.date) == (dt.date(2019, 3, 26), dt.date(2019, 4, 23))
    assert (first.cycle, second.cycle) == ("placement_1", "placement_2")
    removal = schedule.event("balloon_removal_2").date
    assert schedule.event("scan_6_months").date == removal + dt.timedelta(days=182)
    assert schedule.event("baseline_ultrasound").date < dt.date(2019, 3, 22)


def test_only_a_trial_with_embryo_transfers_has_transfer_settings(
    protocols: dict[str, Protocol],
) -> None:
    """NCT03724617 (a frozen embryo transfer after the placements) has the transfer event's
    roles and settings; the other related trials have neither, and load without them."""
    transfer_settings = {
        spec.name
        for spec in vars(setting_specs).values()
        if isinstance(spec, SettingSpec) and spec.feature is Feature.embryo_transfer
    }
    for protocol_id in RELATED:
        protocol = protocols[protocol_id]
        transfers = protocol.role_event(EventRole.embryo_transfer) is not None
        assert transfers is (protocol_id == "nct03724617")
        assert (transfer_settings <= set(protocol.settings)) is transfers
        if not transfers:
            assert not transfer_settings & set(protocol.settings)


@pytest.mark.parametrize("protocol_id", RELATED)
def test_its_primary_outcome_has_a_measure(
    protocols: dict[str, Protocol], protocol_id: str
) -> None:
    protocol = protocols[protocol_id]
    primary = {o.id for o in protocol.outcomes if o.kind == "primary"}
    assert any(m.outcome in primary for m in protocol.outcome_measures)


#: What the gathered facts leave open ([U]) and each file must label as an assumption (the
#: registry fields, such as dates, on `identity`; the design's on `design`).
UNRETRIEVED: dict[str, list[tuple[str, str]]] = {
    "nct05495711": [
        ("dose_rules[huc_msc_low]", "not in the gathered facts"),
        ("dose_rules[huc_msc_high]", "assumed"),
        ("outcomes[thickness_3_months]", "wording was not retrieved"),
        ("identity", "completion 2022-05-31"),
        ("identity", "status RECRUITING"),
    ],
    "nct03386708": [
        ("dose_rules[huc_msc_fixed]", "not in the gathered facts"),
        ("outcomes[safety_panel]", "wording was not retrieved"),
        ("identity", "start date"),
        ("identity", "completion date"),
    ],
    "nct02065167": [
        ("outcomes[healing_no_collapse]", "not retrieved"),
        ("schedule[follow_up_12_months]", "not retrieved"),
        ("identity", "start and completion dates"),
        ("dose_rules[bm_msc_fixed]", "volume"),
    ],
    "nct03181087": [("identity", "completion date"), ("cycles[delivery]", "no menstrual cycle")],
    "nct03724617": [
        ("dose_rules[uc_msc_scaffold_fixed]", "1 mL is assumed"),
        ("settings.transfer_thickness_min_mm", "Not given by the registry"),
        ("cycles[transfer]", "not its"),
    ],
}


@pytest.mark.parametrize("protocol_id", RELATED)
def test_what_the_registry_leaves_open_is_a_labelled_assumption(
    protocols: dict[str, Protocol], protocol_id: str
) -> None:
    listed = [(entry.location, entry.reason) for entry in assumptions(protocols[protocol_id])]
    for where, words in UNRETRIEVED[protocol_id]:
        found = [reason for location, reason in listed if _at(location, where)]
        assert any(words in reason for reason in found), (where, words, found)


def _at(location: str, where: str) -> bool:
    """The summary's location of an entry (`dose_rules[huc_msc_low]`), or one inside it."""
    return location == where or location.startswith(where + ".")


def test_the_withdrawn_trial_enrols_no_one_but_still_loads() -> None:
    protocol = load_protocol("nct03181087")
    assert (protocol.identity.overall_status, protocol.identity.enrollment_target) == (
        "WITHDRAWN",
        0,
    )
    assert "no enrollments" in protocol.identity.brief_summary
