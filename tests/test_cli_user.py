"""`endotrial user add`: an investigator adds a team member's account through the services;
a wrong password, a role that may not add accounts and a short password are refused clearly,
and nothing is added then."""

import pytest
from click.testing import Result
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.protocol import Protocol
from endotrial.services import NotSignedIn, SiteInput, Study, TeamMember, set_up_study, sign_in
from endotrial.store import Role, make_engine

PI_PASSWORD = "the investigator's passphrase"
NEW_PASSWORD = "a new coordinator's passphrase"


@pytest.fixture
def study(database_url: str, seed_protocol: Protocol) -> Study:
    study = Study(make_engine(database_url), seed_protocol)
    pi = TeamMember(
        username="pi.chen", full_name="Chen", role=Role.INVESTIGATOR, password=PI_PASSWORD
    )
    set_up_study(study, SiteInput(code="GZ6", name="Sixth Affiliated Hospital"), pi)
    return study


def _add(
    database_url: str, *args: str, password: str = PI_PASSWORD, new: str = NEW_PASSWORD
) -> Result:
    env = {"ENDOTRIAL_PASSWORD": password, "ENDOTRIAL_NEW_PASSWORD": new}
    command = ["user", "add", *args, "--database", database_url]
    return CliRunner().invoke(app, command, env=env)


def test_an_investigator_adds_a_coordinator_who_can_then_sign_in(
    study: Study, database_url: str
) -> None:
    result = _add(
        database_url, "coord.new", "--full-name", "Li Na", "--role", "coordinator",
        "--site", "1", "--as", "pi.chen",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "added coord.new (coordinator, account #2) at 1" in result.output
    assert sign_in(study, "coord.new", NEW_PASSWORD).username == "coord.new"


def test_refusals_are_clear_and_add_nothing(study: Study, database_url: str) -> None:
    member = ["coord.new", "--full-name", "Li", "--role", "coordinator", "--site", "1"]
    wrong = _add(database_url, *member, "--as", "pi.chen", password="not it at all")
    assert wrong.exit_code == 2 and "username or password is wrong" in wrong.output
    short = _add(database_url, *member, "--as", "pi.chen", new="short")
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    with pytest.raises(NotSignedIn):
        sign_in(study, "coord.new", NEW_PASSWORD)
    assert _add(database_url, *member, "--as", "pi.chen").exit_code == 0
    other = ["coord.two", "--full-name", "Wu", "--role", "coordinator", "--site", "1"]
    by_coordinator = _add(database_url, *other, "--as", "coord.new", password=NEW_PASSWORD)
    assert by_coordinator.exit_code == 2 and "may not add" in by_coordinator.output
    assert "Traceback" not in by_coordinator.output
