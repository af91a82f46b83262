"""Output shared by commands: the --force option, whole-or-nothing files, a progress bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

import typer

from endotrial.files import atomic_output, check_output_file

Advance = Callable[[int], None]

ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace the --out file if it already exists (it is never the input file).",
    ),
]


def write_output(content: bytes, out: Path, *, inputs: tuple[Path, ...] = (), force: bool) -> None:
    """`content` as the file `out`, whole or not at all, never over an input or, without
    `force`, over an existing file."""
    check_output_file(out, inputs=inputs, force=force)
    with atomic_output(out) as handle:
        handle.write(content)


@contextmanager
def progress_bar(
    total: int, label: str, stream: IO[str] | None = None, *, enabled: bool = True
) -> Iterator[Advance]:
    """A progress bar on `stream` (default stderr) when it is a terminal (and `enabled`), else
    nothing: a function to call with the number of rows done since the last call."""
    stream = stream if stream is not None else sys.stderr
    if not enabled or not _is_terminal(stream):
        yield lambda _rows: None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
    except ImportError:  # pragma: no cover - rich comes with typer
        with _plain_progress(total, label, stream) as advance:
            yield advance
        return
    console = Console(file=stream, force_terminal=True)
    columns = (
        f"{label}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda rows: progress.advance(task, rows)


@contextmanager
def _plain_progress(total: int, label: str, stream: IO[str]) -> Iterator[Advance]:
    done = 0
    shown = 0.0

    def advance(rows: int) -> None:
        nonlocal done, shown
        done += rows
        if time.monotonic() - shown > 0.2 or done >= total:
            stream.write(f"\r{label} {done:,}/{total:,} ({100 * done // max(total, 1)}%)")
            stream.flush()
            shown = time.monotonic()

    try:
        yield advance
    finally:
        stream.write("\n")


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
