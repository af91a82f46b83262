"""The demo builds and verifies a synthetic trial from any protocol file (issue 9, finding 7):
its arms (a vehicle control among them), dose rules, repeated procedures and scans; no
transfer where the protocol has none; the seed's cited effect sizes only for the seed."""

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.demo import DemoSummary, build_demo, create_demo, render_summary
from endotrial.demo.run import DemoError
from endotrial.protocol import bundled_protocol_files, load_protocol
from endotrial.protocol.models import ROLE_KINDS, EventRole
from endotrial.store import Cycle, EmbryoTransfer, Procedure, make_engine, verify_audit_chain

FIXTURES = Path(__file__).parents[1] / "fixtures" / "protocols"
SEED = 11


def _build(tmp_path: Path, name: str, participants: int) -> tuple[str, DemoSummary]:
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    protocol = load_protocol(FIXTURES / f"{name}.yaml")
    return url, build_demo(url, seed=SEED, protocol=protocol, participants=participants)


def _rows(url: str, model: type[Any]) -> list[Any]:
    engine = make_engine(url)
    try:
        assert verify_audit_chain(engine).ok
        with Session(engine) as session:
            return list(session.scalars(select(model)))
    finally:
        engine.dispose()


def test_dose_groups_and_a_vehicle_control(tmp_path: Path) -> None:
    """Four arms, three fixed doses and the carrier without cells: each arm's procedure is
    dosed by its own rule, the vehicle's by none; nothing of a transfer is recorded."""
    url, summary = _build(tmp_path, "fixed_dose_groups", participants=8)
    assert summary.enrolled_by_arm == {"high": 2, "low": 2, "mid": 2, "vehicle": 2}
    assert not summary.has_transfers and summary.transfers == 0
    text = render_summary(summary)
    assert "no embryo transfers" in text and "SYNTHETIC" in text and "not evidence" in text
    assert "verified: audit trail intact" in text
    assert not _rows(url, EmbryoTransfer)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            doses = connection.execute(
                select(Procedure.dose_cells, Procedure.viability_pct).join_from(
                    Procedure, Cycle, Procedure.cycle_id == Cycle.id
                )
            ).all()
            by_arm: dict[str, int | None] = dict(
                connection.exec_driver_sql(
                    "SELECT p.arm, max(pr.dose_cells) FROM procedures pr "
                    "JOIN participants p ON p.id = pr.participant_id GROUP BY p.arm"
                ).all()
            )
    finally:
        engine.dispose()
    assert len(doses) == summary.procedures > 0
    assert by_arm.get("vehicle", "none") is None, "the vehicle control is given no cells"
    for arm, cells in (("low", 1.0e7), ("mid", 2.0e7), ("high", 4.0e7)):
        given = by_arm.get(arm)
        if given is not None:
            assert abs(given - cells) <= cells * 0.10, (arm, given)


def test_a_procedure_repeated_in_two_cycles(tmp_path: Path) -> None:
    url, summary = _build(tmp_path, "two_cycle_placement", participants=4)
    assert summary.enrolled_by_arm == {"scaffold": 4}
    procedures = _rows(url, Procedure)
    cycles = {c.id: c.kind for c in _rows(url, Cycle)}
    given: dict[int, list[str]] = {}
    for row in procedures:
        given.setdefault(row.participant_id, []).append(cycles[row.cycle_id])
    assert any(kinds == ["placement_1", "placement_2"] for kinds in given.values()), given
    assert all(len(kinds) == len(set(kinds)) for kinds in given.values()), "once per cycle"


def test_two_arms_with_scans_of_another_protocol(tmp_path: Path) -> None:
    _url, summary = _build(tmp_path, "second_trial", participants=4)
    assert summary.enrolled_by_arm == {"hrt_only": 2, "scaffold_msc": 2}
    assert summary.procedures <= 2 and summary.protocol_id == "test-thin-endometrium"
    assert any(line.startswith("verified:") for line in render_summary(summary).splitlines())


def test_the_seed_is_the_only_protocol_with_cited_effects(tmp_path: Path) -> None:
    """Same seed, another protocol: the output says its effect sizes are synthetic."""
    _url, summary = _build(tmp_path, "second_trial", participants=2)
    assert "SYNTHETIC" in summary.provenance and "cited" not in summary.provenance


def _without_a_cycle(tmp_path: Path) -> Path:
    """A protocol that loads but whose second arm has no cycle to start (its schedule is the
    other arm's alone)."""
    data = yaml.safe_load((FIXTURES / "second_trial.yaml").read_text(encoding="utf-8"))
    data["arms"][0]["regimens"] = []
    for event in data["schedule"]:
        event["arms"] = ["scaffold_msc"]
    path = tmp_path / "no_cycle.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_protocol_the_demo_cannot_follow_is_refused_before_anything_is_made(
    tmp_path: Path,
) -> None:
    protocol = load_protocol(_without_a_cycle(tmp_path))
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with pytest.raises(DemoError, match="arm 'hrt_only' has no cycle"):
        create_demo(url, protocol=protocol, participants=2)
    assert not (tmp_path / "demo.db").exists()


def test_more_participants_than_the_protocol_enrols_is_refused(tmp_path: Path) -> None:
    protocol = load_protocol(FIXTURES / "second_trial.yaml")
    with pytest.raises(DemoError, match="at most 24"):
        create_demo(f"sqlite:///{tmp_path / 'demo.db'}", protocol=protocol, participants=25)
    assert not list(tmp_path.iterdir())


def _seed_ids() -> set[str]:
    seed = yaml.safe_load(bundled_protocol_files()["nct07176143"].read_text(encoding="utf-8"))
    ids = {entry["id"] for section in ("arms", "cycles", "schedule") for entry in seed[section]}
    ids |= set(seed["settings"]) | {r["id"] for r in seed["regimens"]}
    ids |= {p["id"] for p in seed["procedures"]}
    return ids - ({role.value for role in EventRole} | set(ROLE_KINDS.values()))


def test_the_demo_names_no_seed_id_outside_its_cited_effects() -> None:
    """The demo's code reads the protocol; only effects.py (the seed's cited values) names
    the seed's arms, cycles, events, settings, regimens or procedures."""
    demo = Path(__file__).parents[2] / "src" / "endotrial" / "demo"
    ids = _seed_ids()
    assert {"hbmsc", "control", "transfer_ultrasound"} <= ids
    found = [
        f"{path.name}:{node.lineno} {node.value}"
        for path in sorted(demo.glob("*.py"))
        if path.name != "effects.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in ids
    ]
    assert not found


RELATED = ("nct02065167", "nct03181087", "nct03386708", "nct03724617", "nct05495711")


@pytest.mark.parametrize("protocol_id", RELATED)
def test_each_bundled_related_trial_builds_and_verifies(tmp_path: Path, protocol_id: str) -> None:
    """Issue 9: `endotrial demo --protocol ID` for each related trial: built through the
    services, verified; transfers only where the protocol has them; a trial that enrolled no
    one is screened and says why no one is enrolled."""
    protocol = load_protocol(protocol_id)
    target = protocol.identity.enrollment_target
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    summary = build_demo(url, seed=SEED, protocol=protocol, participants=min(2, target) or None)
    assert summary.verification[0] == "audit trail intact"
    assert summary.has_transfers == (protocol.role_event(EventRole.embryo_transfer) is not None)
    if not summary.has_transfers:
        assert not _rows(url, EmbryoTransfer)
    if target == 0:
        assert summary.enrolled_by_arm == {} and summary.screened > 0
        assert "enrolled no one" in render_summary(summary)
    else:
        assert sum(summary.enrolled_by_arm.values()) >= 1
