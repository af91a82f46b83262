"""The load benchmark (bench/bench_web_load.py) runs: a tiny load against `endotrial serve` on
the web trial's SQLite file with two server processes, its writes all found and the audit
trail verified afterwards. (The
numbers are the benchmark's business, not this test's.)"""

import shutil
import subprocess
import sys
from pathlib import Path

from services_helpers import COORDINATOR, PASSWORD
from web_helpers import build_web_trial

from endotrial.protocol import Protocol
from endotrial.store import make_engine

BENCH = Path(__file__).parents[2] / "bench" / "bench_web_load.py"


def test_the_load_benchmark_runs_and_loses_no_write(
    sqlite_template: Path, seed_protocol: Protocol, tmp_path: Path
) -> None:
    path = tmp_path / "trial.db"
    shutil.copyfile(sqlite_template, path)
    shutil.copyfile(f"{sqlite_template}.key", f"{path}.key")
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    build_web_trial(engine, seed_protocol)
    engine.dispose()
    command = [
        sys.executable, str(BENCH), "--database", url, "--username", COORDINATOR,
        "--password", PASSWORD, "--clients", "3", "--requests", "9", "--workers", "2",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for case in ("static", "page", "write"):
        (line,) = [x for x in lines if x.split()[1:2] == [case] and "req/s" in x]
        assert "errors 0 (none)" in line, line
    assert "lost 0; audit verify exit code 0 (intact)" in run.stdout
    assert "writes acknowledged 10," in run.stdout  # one to find her, then nine
