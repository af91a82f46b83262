"""Writing a user's output files safely: never onto an input, never over a file not named for
replacement, never half-written, never carrying a formula a spreadsheet would run.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from endotrial.errors import InputError

#: A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV injection"):
#: such a cell is written with a leading apostrophe, which the spreadsheet shows as text.
FORMULA_STARTS = "=+-@\t\r"
FORMULA_START = re.compile(f"^[{re.escape(FORMULA_STARTS)}]")
_FORMULA_START_BYTES = np.frombuffer(FORMULA_STARTS.encode("ascii"), dtype=np.uint8)


def escape_cell(text: str) -> str:
    """`text` as a CSV cell a spreadsheet shows and never evaluates."""
    return "'" + text if FORMULA_START.match(text) else text


def escape_formulas(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Every text cell of `batch` escaped as `escape_cell` does. The first byte of each cell is
    read straight from the column's buffers (a regular expression over every cell cost more
    than the rest of writing the file); only a column holding a risky cell is rebuilt."""
    arrays = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = _starts_a_formula(column)
            if risky.any():
                escaped = pc.binary_join_element_wise("'", column, "")
                column = pc.if_else(pa.array(risky), escaped, column)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def _starts_a_formula(column: pa.Array) -> np.ndarray:
    """Whether each cell's first byte is one of FORMULA_STARTS (all ASCII, so a byte test is a
    character test in UTF-8); False for a null or empty cell."""
    if len(column) == 0:
        return np.zeros(0, dtype=bool)
    _, offsets_buffer, data_buffer = column.buffers()
    offset_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    offsets = offsets[column.offset : column.offset + len(column) + 1]
    starts, lengths = offsets[:-1], np.diff(offsets)
    firsts = np.zeros(len(column), dtype=np.uint8)
    if data_buffer is not None:
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        filled = lengths > 0
        firsts[filled] = data[starts[filled]]
    risky: np.ndarray = np.isin(firsts, _FORMULA_START_BYTES)
    if column.null_count:
        risky &= column.is_valid().to_numpy(zero_copy_only=False)
    return risky


def check_output_file(target: Path, *, inputs: Iterable[Path] = (), force: bool = False) -> Path:
    """`target` when it may be written: not one of `inputs`, not a folder, and not an existing
    file unless `force` (the user named it for replacement)."""
    for source in inputs:
        if _same_file(target, source):
            raise InputError(
                f"{target} is the input file: name another file for the output (it would "
                "overwrite what is being read)"
            )
    if target.is_dir():
        raise InputError(f"{target} is a folder: name a file for the output")
    if target.exists() and not force:
        raise InputError(
            f"{target} already exists: choose another name, or add --force to replace it"
        )
    if not target.parent.is_dir():
        raise InputError(f"{target}: the folder {target.parent} does not exist; create it first")
    return target


def _same_file(one: Path, other: Path) -> bool:
    try:
        if one.exists() and other.exists():
            return os.path.samefile(one, other)
    except OSError:
        pass
    return one.resolve() == other.resolve()


def write_problem(target: Path, error: OSError) -> InputError:
    """An OS failure while writing `target`, as what the user can do about it."""
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space (or write elsewhere) and run it again"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "write to a folder you may write to"
    else:
        advice = "check the folder and run it again"
    return InputError(f"{target}: cannot write it ({reason}); nothing was written: {advice}")


@contextmanager
def atomic_output(target: Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes `target` only when the block ends without an error: written
    as a temporary file in the same folder, then renamed over `target` in one step. A failure or
    an interruption (Ctrl-C, a full disk) leaves `target` as it was and no temporary file.
    OS failures of the writing itself are raised as `InputError` naming `target`."""
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed or removed below
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
    except OSError as error:
        raise write_problem(target, error) from None
    temporary = Path(handle.name)
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except OSError as error:
        _discard(handle, temporary)
        raise write_problem(target, error) from None
    except BaseException:
        _discard(handle, temporary)
        raise


def _discard(handle: IO[bytes], temporary: Path) -> None:
    with suppress(OSError):  # a full disk fails the close's flush too; the file goes anyway
        handle.close()
    temporary.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
