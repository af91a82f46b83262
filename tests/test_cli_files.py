"""Files and the command line under bad input: what the CLI may delete, overwrite and print.

`demo --replace` deletes only the demo's own file; `--out` never writes onto the input nor over
an existing file without --force, and never leaves half a file; CSV results never carry a formula
a spreadsheet would run; a ragged row is named by its line; a foreign or non-SQLite database, an
empty URL, a year-9999 date, a full disk and Ctrl-C give a message, never a traceback.
"""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from sqlalchemy import Engine, create_engine, event, text
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.cli.app import user_errors
from endotrial.cli.output import progress_bar
from endotrial.demo import run as demo_run
from endotrial.demo.target import DEMO_APPLICATION_ID, is_demo_file, mark_as_demo
from endotrial.store import upgrade_database

runner = CliRunner()
EXAMPLE = Path(__file__).parents[1] / "examples" / "candidates.csv"


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output
    assert "sqlalchemy" not in output.lower() and "sqlite3." not in output


# --- finding 4: demo --replace deletes only the demo's own file ------------------------------


def _trial_database(path: Path, sqlite_template: Path) -> Path:
    shutil.copy(sqlite_template, path)
    return path


@pytest.mark.parametrize("kind", ["csv", "trial database", "folder", "empty sqlite"])
def test_demo_replace_refuses_what_the_demo_did_not_make(
    tmp_path: Path, sqlite_template: Path, kind: str
) -> None:
    target = tmp_path / "target.db"
    if kind == "csv":
        shutil.copy(EXAMPLE, target)
    elif kind == "trial database":
        _trial_database(target, sqlite_template)
    elif kind == "folder":
        target.mkdir()
    else:
        sqlite3.connect(target).execute("CREATE TABLE t (x)").connection.close()
    before = target.read_bytes() if target.is_file() else None
    result = runner.invoke(app, ["demo", "--database", f"sqlite:///{target}", "--replace"])
    assert result.exit_code == 2, result.output
    assert "--replace" in result.output and "nothing was deleted" in result.output
    _no_traceback(result.output)
    assert target.exists()
    if before is not None:
        assert target.read_bytes() == before


def test_demo_replace_deletes_a_file_the_demo_marked(tmp_path: Path) -> None:
    target = tmp_path / "demo.db"
    mark_as_demo(target)
    connection = sqlite3.connect(target)
    connection.execute("CREATE TABLE leftover (x)")
    connection.commit()
    connection.close()
    assert is_demo_file(target)

    from endotrial.demo.target import prepare_demo_database

    created = prepare_demo_database(f"sqlite:///{target}", replace=True)
    assert created == target
    connection = sqlite3.connect(target)
    tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    mark = connection.execute("PRAGMA application_id").fetchone()[0]
    connection.close()
    assert tables == [] and mark == DEMO_APPLICATION_ID, "replaced by a fresh, marked file"


def test_a_database_made_by_db_upgrade_is_not_a_demo(tmp_path: Path) -> None:
    target = tmp_path / "trial.db"
    upgrade_database(f"sqlite:///{target}")
    assert not is_demo_file(target)


def test_demo_interrupted_removes_its_half_built_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "demo.db"

    def interrupted_build(url: str | None, **_: object) -> None:
        upgrade_database(url)  # the build has started writing...
        raise KeyboardInterrupt  # ...when the user presses Ctrl-C

    monkeypatch.setattr(demo_run, "build_demo", interrupted_build)
    result = runner.invoke(app, ["demo", "--database", f"sqlite:///{target}"])
    assert result.exit_code == 130, result.output
    assert "interrupted: nothing was kept" in result.output
    _no_traceback(result.output)
    assert not target.exists()
    assert not list(tmp_path.iterdir())


# --- finding 12: output files ---------------------------------------------------------------


def test_screen_out_refuses_the_input_file(tmp_path: Path) -> None:
    candidates = tmp_path / "candidates.csv"
    shutil.copy(EXAMPLE, candidates)
    before = candidates.read_bytes()
    for given in (candidates, tmp_path / "." / "candidates.csv"):
        result = runner.invoke(app, ["screen", str(candidates), "--out", str(given), "--force"])
        assert result.exit_code == 2, result.output
        assert "is the input file" in result.output
    assert candidates.read_bytes() == before


def test_screen_out_replaces_an_existing_file_only_with_force(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    out.write_text("precious\n")
    refused = runner.invoke(app, ["screen", str(EXAMPLE), "--out", str(out)])
    assert refused.exit_code == 2
    assert "already exists" in refused.output and "--force" in refused.output
    assert out.read_text() == "precious\n"
    forced = runner.invoke(app, ["screen", str(EXAMPLE), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    with out.open(encoding="utf-8") as written:
        assert len(list(csv.DictReader(written))) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"], "no temporary file"


def test_schedule_out_replaces_an_existing_file_only_with_force(tmp_path: Path) -> None:
    out = tmp_path / "calendar.ics"
    out.write_text("precious\n")
    command = ["schedule", "--arm", "hbmsc", "--cycle-start", "2026-01-05", "--format", "ics"]
    refused = runner.invoke(app, [*command, "--out", str(out)])
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert out.read_text() == "precious\n"
    forced = runner.invoke(app, [*command, "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_text().startswith("BEGIN:VCALENDAR")


def test_schedule_out_refuses_the_protocol_file_it_reads(tmp_path: Path) -> None:
    protocol = tmp_path / "trial.yaml"
    bundled = Path(__file__).parents[1] / "src/endotrial/protocol/protocols/nct07176143.yaml"
    shutil.copy(bundled, protocol)
    before = protocol.read_bytes()
    result = runner.invoke(
        app,
        [
            *("schedule", "--arm", "hbmsc", "--cycle-start", "2026-01-05"),
            *("--protocol", str(protocol), "--out", str(protocol), "--force"),
        ],
    )
    assert result.exit_code == 2 and "is the input file" in result.output
    assert protocol.read_bytes() == before


def _one_candidate_file(tmp_path: Path, candidate_id: str) -> Path:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    header, first = lines[0], next(csv.reader([lines[1]]))
    first[0] = candidate_id
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(first)
    path = tmp_path / "candidates.csv"
    path.write_text(f"{header}\n{buffer.getvalue()}", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "candidate_id",
    ['=HYPERLINK("http://evil.example","SC-1")', "+1+2", "-3+4", "@SUM(A1)", "\tSC-9"],
)
def test_csv_results_never_carry_a_formula(tmp_path: Path, candidate_id: str) -> None:
    path = _one_candidate_file(tmp_path, candidate_id)
    out = tmp_path / "results.csv"
    result = runner.invoke(app, ["screen", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as written:
        row = next(csv.DictReader(written))
    shown = candidate_id  # trimming takes spaces only; the tab stays, escaped
    assert row["candidate_id"] == "'" + shown
    parquet = tmp_path / "results.parquet"
    assert runner.invoke(app, ["screen", str(path), "--out", str(parquet)]).exit_code == 0
    assert pq.read_table(parquet).column("candidate_id").to_pylist() == [shown], "data unchanged"


def test_the_template_header_is_written_whole_and_never_overwritten(tmp_path: Path) -> None:
    template = tmp_path / "template.csv"
    result = runner.invoke(app, ["protocol", "items", "--template", str(template)])
    assert result.exit_code == 0, result.output
    assert template.read_text(encoding="utf-8").startswith("candidate_id,screening_date")
    again = runner.invoke(app, ["protocol", "items", "--template", str(template)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_a_ragged_row_is_named_by_its_line_and_the_others_are_screened(tmp_path: Path) -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    lines[3] += ",an extra field"
    path = tmp_path / "candidates.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["screen", str(path)])
    assert result.exit_code == 0, result.output
    assert "30 candidates screened" in result.output
    ragged = next(line for line in result.output.splitlines() if "  row    3 " in line)
    assert "invalid" in ragged and "row 3 (line 4):" in ragged and "the header has" in ragged


def test_screen_json_streams_one_valid_document(tmp_path: Path) -> None:
    import json

    result = runner.invoke(app, ["screen", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["counts"] == {"eligible": 5, "ineligible": 17, "incomplete": 7, "invalid": 1}
    assert len(document["candidates"]) == 30
    assert document["to_confirm_at_enrolment"][0]["criterion"] == "I1"


def test_progress_bar_shows_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        with progress_bar(10, "screening", stream) as advance:
            advance(4)
            advance(6)
    assert "screening" in terminal.getvalue()
    assert pipe.getvalue() == ""


# --- finding 12: databases --------------------------------------------------------------


def test_db_upgrade_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    connection.commit()
    connection.close()
    result = runner.invoke(app, ["db", "upgrade", "--database", f"sqlite:///{path}"])
    assert result.exit_code == 2, result.output
    assert "not endotrial's (invoices)" in result.output and "nothing was changed" in result.output
    connection = sqlite3.connect(path)
    tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    connection.close()
    assert tables == ["invoices"]


def test_db_upgrade_still_creates_and_migrates_endotrials_own(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trial.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    again = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert again.exit_code == 0 and "already at revision" in again.output


@pytest.mark.parametrize("command", [["db", "status"], ["db", "upgrade"], ["demo"]])
def test_an_empty_database_url_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*command, "--database", ""])
    assert result.exit_code == 2, result.output
    assert "the database URL is empty" in result.output
    assert not (tmp_path / "endotrial.db").exists(), "the default file is not opened instead"


# --- finding 11: failures of the machine become messages -------------------------------------


@pytest.mark.parametrize(
    "command", [["db", "status"], ["db", "upgrade"], ["audit", "verify"], ["demo"]]
)
def test_a_non_sqlite_file_as_the_database_is_a_message(tmp_path: Path, command: list[str]) -> None:
    fake = tmp_path / "trial.db"
    shutil.copy(EXAMPLE, fake)
    before = fake.read_bytes()
    result = runner.invoke(app, [*command, "--database", f"sqlite:///{fake}"])
    assert result.exit_code in (1, 2), result.output
    assert "not a SQLite database" in result.output
    _no_traceback(result.output)
    assert fake.read_bytes() == before


def test_a_year_9999_cycle_start_is_a_message() -> None:
    result = runner.invoke(app, ["schedule", "--arm", "hbmsc", "--cycle-start", "9999-12-31"])
    assert result.exit_code == 2
    assert "after 9999-12-31" in result.output and "check the year" in result.output
    _no_traceback(result.output)


def _full_database(path: Path) -> Engine:
    """A real SQLite database that runs out of room after a few pages (max_page_count)."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _small(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute("PRAGMA max_page_count = 3")

    return engine


def test_a_full_database_is_a_message_without_sql_or_parameters(tmp_path: Path) -> None:
    engine = _full_database(tmp_path / "full.db")
    secret = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0"

    @user_errors
    def save() -> None:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE accounts (password_hash TEXT)"))
            for _ in range(200):
                connection.execute(
                    text("INSERT INTO accounts VALUES (:hash)"), {"hash": secret * 20}
                )

    probe = typer.Typer()
    probe.command()(save)
    result = runner.invoke(probe, [])
    assert result.exit_code == 1, result.output
    assert "the disk holding the database is full" in result.output
    assert secret not in result.output and "INSERT" not in result.output
    _no_traceback(result.output)


def _run_with_file_size_limit(
    args: list[str], limit_bytes: int, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """The CLI in a process whose files cannot grow past `limit_bytes`: writes past it fail in the
    OS (EFBIG), as they do on a full disk (ENOSPC)."""
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
        from endotrial.cli import main
        sys.argv = ["endotrial", *{args!r}]
        main()
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, check=False
    )


def _many_candidates(path: Path, copies: int) -> Path:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    rows = []
    for copy in range(copies):
        for line in lines[1:]:
            rows.append(f"{copy}-{line}")
    path.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_while_writing_results_leaves_no_half_file(tmp_path: Path) -> None:
    candidates = _many_candidates(tmp_path / "candidates.csv", copies=40)
    out = tmp_path / "results.csv"
    done = _run_with_file_size_limit(
        ["screen", str(candidates), "--out", str(out)], 20_000, tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert f"{out}: cannot write it" in done.stderr and "nothing was written" in done.stderr
    _no_traceback(done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidates.csv"]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_under_the_database_is_a_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trial.db'}"
    done = _run_with_file_size_limit(["db", "upgrade", "--database", url], 8_192, tmp_path)
    assert done.returncode == 1, done.stderr
    assert "disk" in done.stderr and "run the command again" in done.stderr
    _no_traceback(done.stderr)


def test_os_errors_name_the_file_and_what_to_do(tmp_path: Path) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full here")
    from endotrial.eligibility import screen_file
    from endotrial.eligibility.results import ResultWriter
    from endotrial.errors import InputError
    from endotrial.protocol import load_protocol

    run = screen_file(load_protocol(), EXAMPLE)
    no_space = r"results\.csv: .*No space left.*free some space"
    with full.open("wb", buffering=0) as handle, pytest.raises(InputError, match=no_space):
        writer = ResultWriter(tmp_path / "results.csv", handle)
        for batch in run.results.to_batches():
            writer.write(batch)
        writer.close()
