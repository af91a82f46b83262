"""`endotrial report`: the statistical analysis plan computed from the trial's database, written
as the trial report (HTML, PDF, CSV), in English or Chinese. `endotrial analyse` is its former
name, kept as a hidden alias."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption, ProtocolOption
from endotrial.errors import InputError

DEMO_BANNER = "SYNTHETIC DEMO DATA: a simulated trial, not real patients"


@user_errors
def report(
    database: DatabaseOption = None,
    protocol_id: ProtocolOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.html, report.pdf and csv/.")
    ] = Path("report"),
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the bootstrap and the imputations.")
    ] = 20250930,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples of the g-computation.")
    ] = 2000,
    imputations: Annotated[
        int, typer.Option("--imputations", help="Imputations of the missing-covariate analysis.")
    ] = 20,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Write report.pdf too.")] = True,
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            help="Language of the report: en (English) or zh (Simplified Chinese). The CSV "
            "files keep English column names.",
        ),
    ] = "en",
) -> None:
    """Compute the protocol's analysis plan (primary, adjusted, sensitivity, secondary, outcome
    measures, safety, participant flow, interim safety monitoring) and write the report; a
    protocol without analysis sets or two compared arms gets a descriptive report (flow,
    outcome measures by arm). Reads the database only; the same database and options give the
    same numbers."""
    # Imported here: scipy, statsmodels, matplotlib and WeasyPrint load only for this command.
    from endotrial.demo.target import demo_file, is_demo_file
    from endotrial.protocol import load_protocol
    from endotrial.reporting.compute import Settings, compute_analysis
    from endotrial.reporting.dataset_build import build_dataset
    from endotrial.reporting.figures import check_font
    from endotrial.reporting.i18n import check_language
    from endotrial.reporting.render import write_report
    from endotrial.store.engine import open_existing

    if seed < 0:
        raise InputError(f"--seed {seed}: give 0 or more")
    if bootstrap < 200 or imputations < 2:
        raise InputError("--bootstrap needs at least 200 resamples and --imputations at least 2")
    check_font(check_language(lang))  # before the long computation
    protocol = load_protocol(protocol_id)
    engine = open_existing(database, read_only=True)
    try:
        dataset = build_dataset(engine, protocol)
    finally:
        engine.dispose()
    settings = Settings(seed=seed, n_bootstrap=bootstrap, n_imputations=imputations)
    analysis = compute_analysis(dataset, protocol, settings)
    target = demo_file(database)
    banner = DEMO_BANNER if target is not None and is_demo_file(target) else None
    files = write_report(analysis, out, banner=banner, pdf=pdf, language=lang)
    counts = ", ".join(f"{name} {n}" for name, n in dataset.row_counts().items())
    typer.echo(f"analysis dataset: {counts}")
    typer.echo(f"report: {files.html}")
    if files.pdf is not None:
        typer.echo(f"report: {files.pdf}")
    typer.echo(f"tables and dataset as CSV: {files.csv_folder}")


app.command("report")(report)
#: The command's first name, still accepted (scripts and notes use it), not listed in --help.
app.command("analyse", hidden=True)(report)
