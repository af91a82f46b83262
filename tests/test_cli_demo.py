"""`endotrial demo` then `endotrial audit verify`, as `make run` does."""

from pathlib import Path

from typer.testing import CliRunner

from endotrial.cli import app

runner = CliRunner()


def test_demo_builds_a_verifiable_trial_and_refuses_to_overwrite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    built = runner.invoke(app, ["demo", "--database", url, "--seed", "7"])
    assert built.exit_code == 0, built.output
    assert "enrolled: control 30, hbmsc 30" in built.output
    assert "SYNTHETIC" in built.output

    again = runner.invoke(app, ["demo", "--database", url])
    assert again.exit_code == 2 and "already holds trial data" in again.output

    verified = runner.invoke(app, ["audit", "verify", "--database", url])
    assert verified.exit_code == 0 and "audit trail intact" in verified.output

    replaced = runner.invoke(app, ["demo", "--database", url, "--seed", "7", "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert built.output.splitlines()[2:] == replaced.output.splitlines()[2:]


def test_a_negative_seed_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = runner.invoke(app, ["demo", "--database", url, "--seed", "-1"])
    assert result.exit_code == 2, result.output
    assert "seed -1" in result.output and "0 or more" in result.output
    assert not list(tmp_path.iterdir())
    (tmp_path / "demo.db").write_bytes(b"kept")
    replaced = runner.invoke(app, ["demo", "--database", url, "--seed", "-1", "--replace"])
    assert replaced.exit_code == 2
    assert (tmp_path / "demo.db").read_bytes() == b"kept", "--replace deletes nothing then"


def test_demo_of_another_protocol_file_ends_verified(tmp_path: Path) -> None:
    """Issue 9, finding 7: another protocol's arms, not the seed's; no traceback."""
    protocol = Path(__file__).parent / "fixtures" / "protocols" / "fixed_dose_groups.yaml"
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["demo", "--database", url, "--protocol", str(protocol), "--participants", "4"]
    built = runner.invoke(app, args)
    assert built.exit_code == 0, built.output
    assert "enrolled: high 1, low 1, mid 1, vehicle 1" in built.output
    assert (
        "effect sizes SYNTHETIC" in built.output and "verified: audit trail intact" in built.output
    )
    verified = runner.invoke(app, ["audit", "verify", "--database", url])
    assert verified.exit_code == 0 and "audit trail intact" in verified.output


def test_a_protocol_the_demo_cannot_follow_is_a_clear_error(tmp_path: Path) -> None:
    import yaml

    fixture = Path(__file__).parent / "fixtures" / "protocols" / "second_trial.yaml"
    data = yaml.safe_load(fixture.read_text(encoding="utf-8"))
    data["arms"][0]["regimens"] = []
    for event in data["schedule"]:
        event["arms"] = ["scaffold_msc"]
    protocol = tmp_path / "no_cycle.yaml"
    protocol.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = runner.invoke(app, ["demo", "--database", url, "--protocol", str(protocol)])
    assert result.exit_code == 2, result.output
    assert "arm 'hrt_only' has no cycle" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "demo.db").exists()
