"""Load a protocol file: YAML → validated `Protocol`, or one error naming file, line and field.

Validation has two stages: pydantic checks shapes and types; `consistency_problems` checks what
spans the file (references between sections, expressions against data items, schedule anchors).
Every problem found is reported at once, each with the line it comes from.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from endotrial.errors import ProtocolError
from endotrial.protocol.checks import consistency_problems
from endotrial.protocol.models import Protocol

Location = tuple[str | int, ...]
BUNDLED_PACKAGE = "endotrial.protocol.protocols"


class _ProtocolLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a date-shaped value that is no real date (2025-02-30)
    stays text: the model then reports it like any other bad value, with its line and field,
    instead of the resolver's bare `ValueError: day is out of range for month`."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_ProtocolLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _ProtocolLoader.construct_yaml_timestamp
)


def bundled_protocol_files() -> dict[str, Path]:
    """Protocol id → file, for the protocols shipped inside the package."""
    folder = resources.files(BUNDLED_PACKAGE)
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith((".yaml", ".yml"))
    }


def default_protocol_id() -> str:
    return sorted(bundled_protocol_files())[0]


def load_protocol(id_or_path: str | Path | None = None) -> Protocol:
    """Load a bundled protocol by id (case-insensitive), or any protocol file by path."""
    if id_or_path is None:
        id_or_path = default_protocol_id()
    bundled = bundled_protocol_files()
    key = str(id_or_path).lower()
    if key in bundled:
        return load_protocol_file(bundled[key])
    path = Path(id_or_path)
    if not path.exists():
        raise ProtocolError(
            f"no protocol '{id_or_path}': give a file path or one of the bundled ids "
            f"{sorted(bundled)}"
        )
    return load_protocol_file(path)


def load_protocol_file(path: Path) -> Protocol:
    text = _read(path)
    data, lines = _parse_yaml(text, path)
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as error:
        problems = [(tuple(e["loc"]), _pydantic_message(e)) for e in error.errors()]
        raise ProtocolError(_format(path, lines, problems)) from None
    problems = consistency_problems(protocol)
    if problems:
        raise ProtocolError(_format(path, lines, problems))
    return protocol


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProtocolError(f"{path}: cannot read the protocol file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: not UTF-8 text; save the protocol file as UTF-8") from None


def _parse_yaml(text: str, path: Path) -> tuple[Any, dict[Location, int]]:
    try:
        data = yaml.load(text, Loader=_ProtocolLoader)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ProtocolError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}:1: the protocol file must be a YAML mapping of sections")
    return data, dict(_node_lines(root, ()))


def _node_lines(node: yaml.Node | None, location: Location) -> Iterator[tuple[Location, int]]:
    """Each location in the document (keys and list indexes) with its 1-based line."""
    if node is None:
        return
    yield location, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_location = (*location, str(key_node.value))
            yield key_location, key_node.start_mark.line + 1
            yield from _node_lines(value_node, key_location)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            yield from _node_lines(child, (*location, index))


def _line_of(lines: dict[Location, int], location: Location) -> int:
    """The line of `location`, or of its nearest enclosing node that exists in the file."""
    for end in range(len(location), -1, -1):
        found = lines.get(location[:end])
        if found is not None:
            return found
    return 1


def _pydantic_message(error: Any) -> str:
    if error["type"] == "missing":
        return "is required but missing"
    if error["type"] == "extra_forbidden":
        return "is not a known field (misspelt?): remove it or correct its name"
    if error["type"] == "date_from_datetime_parsing":
        reason = error.get("ctx", {}).get("error", "not a date")
        return f"'{error['input']}' is not a real date ({reason}): write it as YYYY-MM-DD"
    return str(error["msg"]).removeprefix("Value error, ")


def _format(path: Path, lines: dict[Location, int], problems: list[tuple[Location, str]]) -> str:
    rendered = [
        f"{path}:{_line_of(lines, loc)}: {_dotted(loc) or '(top)'}: {message}"
        for loc, message in problems
    ]
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return f"invalid protocol file ({count}):\n  " + "\n  ".join(rendered)


def _dotted(location: Location) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in location]
    return "".join(parts).lstrip(".")
