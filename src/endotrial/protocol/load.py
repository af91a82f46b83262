"""Load a protocol file: YAML → validated `Protocol`, or one error naming file, line and field.

Validation has two stages: pydantic checks shapes and types; `consistency_problems` checks what
spans the file (references between sections, expressions against data items, schedule anchors).
Every problem found is reported at once, each with the line it comes from.

The YAML itself is read defensively: at most MAX_PROTOCOL_BYTES, at most MAX_YAML_DEPTH levels
deep, each key once per mapping (a second `cells_per_kg` would otherwise silently change the
dose), and no anchors or aliases, which a protocol does not need and which let a few lines
expand to gigabytes (a "billion laughs") or into a loop.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.composer import Composer

from endotrial.errors import ProtocolError
from endotrial.protocol.checks import consistency_problems
from endotrial.protocol.models import FORMAT_VERSION, READABLE_FORMAT_VERSIONS, Protocol
from endotrial.protocol.protocols import DEFAULT_PROTOCOL_ID
from endotrial.protocol.upgrade import upgrade_from_1

Location = tuple[str | int, ...]
BUNDLED_PACKAGE = "endotrial.protocol.protocols"


#: Largest protocol file read; the seed's is about 40 kB.
MAX_PROTOCOL_BYTES = 2_000_000
#: Deepest nesting of YAML mappings and lists (a value counts one level); the seed's is 7.
MAX_YAML_DEPTH = 20


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses but a protocol file may not use; reported with its line."""

    def __init__(self, mark: Any, problem: str) -> None:  # PyYAML's Mark or libyaml's
        super().__init__(problem=problem, problem_mark=mark)


try:
    from yaml import CSafeLoader

    class _SafeLoader(Composer, CSafeLoader):
        """libyaml's parser (about 8 times faster than PyYAML's own) under PyYAML's composer,
        whose steps the protocol loader checks."""

        def __init__(self, stream: str) -> None:
            CSafeLoader.__init__(self, stream)
            Composer.__init__(self)

except ImportError:  # PyYAML built without libyaml
    _SafeLoader = yaml.SafeLoader  # type: ignore[misc,assignment]


class _ProtocolLoader(_SafeLoader):
    """YAML's safe loader, refusing what a protocol file may not hold (anchors and aliases,
    duplicate keys, merge keys, nesting past MAX_YAML_DEPTH). A date-shaped value that is no
    real date (2025-02-30) stays text: the model then reports it like any other bad value, with
    its line and field, instead of the resolver's bare `ValueError: day is out of range`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        assert event is not None  # the composer asks for a node only where an event is
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                event.start_mark,
                "anchors (&name) and aliases (*name) are not allowed in a protocol file: "
                "write each value out in full",
            )
        if self.depth >= MAX_YAML_DEPTH:
            raise _Refused(
                event.start_mark,
                f"nested more than {MAX_YAML_DEPTH} levels deep; a protocol file needs far fewer",
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(
                    key_node.start_mark, "merge keys (<<) are not allowed: write the fields out"
                )
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # PyYAML refuses it below, with its line
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise _Refused(
                    key_node.start_mark,
                    f"key '{str(key)[:80]}' is given twice in one mapping "
                    f"(lines {first_lines[key]} and {line}); keep one of them",
                )
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as error:  # e.g. an integer of 5000 digits
            raise _Refused(node.start_mark, f"cannot read this value: {error}") from None

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
    """The bundled protocol read when none is given (declared beside the bundled files)."""
    return DEFAULT_PROTOCOL_ID


def load_protocol(id_or_path: str | Path | None = None) -> Protocol:
    """Load a bundled protocol by id (case-insensitive), or any protocol file by path."""
    if id_or_path is None:
        id_or_path = default_protocol_id()
    bundled = bundled_protocol_files()
    key = str(id_or_path).lower()
    if key in bundled:
        return load_protocol_file(bundled[key])
    path = Path(id_or_path)
    if not _exists(path):
        raise ProtocolError(
            f"no protocol '{id_or_path}': give a file path or one of the bundled ids "
            f"{sorted(bundled)}"
        )
    return load_protocol_file(path)


def _exists(path: Path) -> bool:
    """Whether the path names something; a name no file can have (a NUL byte, too long) does
    not."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def load_protocol_file(path: Path) -> Protocol:
    text = _read(path)
    data, lines = _parse_yaml(text, path)
    version_problem = _format_version_problem(data)
    if version_problem is not None:
        raise ProtocolError(_format(path, lines, [version_problem]))
    if data["format_version"] == 1:
        data = upgrade_from_1(data)  # read as what version 1 meant
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as error:
        problems = [(tuple(e["loc"]), _pydantic_message(e)) for e in error.errors()]
        raise ProtocolError(_format(path, lines, problems)) from None
    problems = consistency_problems(protocol)
    if problems:
        raise ProtocolError(_format(path, lines, problems))
    return protocol


def _format_version_problem(data: dict[str, Any]) -> tuple[Location, str] | None:
    """A file written for a format this release does not read is refused before anything
    else, saying which versions it reads and what to do: its other fields would be read
    with another meaning."""
    readable = ", ".join(str(v) for v in READABLE_FORMAT_VERSIONS)
    reads = f"this release of endotrial reads format versions {readable}"
    if "format_version" not in data:
        return ("format_version",), (
            f"is missing: {reads}; write `format_version: {FORMAT_VERSION}` at the top of a "
            "file written for it (docs/protocol-file.md)"
        )
    version = data["format_version"]
    if version in READABLE_FORMAT_VERSIONS and not isinstance(version, bool):
        return None
    if isinstance(version, bool) or not isinstance(version, int):
        return ("format_version",), f"'{version}' is not a format version: {reads}"
    if version > FORMAT_VERSION:
        return ("format_version",), (
            f"the file is written in format version {version}, newer than this release "
            f"reads ({reads}): install a later endotrial, or write the file in version "
            f"{FORMAT_VERSION}"
        )
    return ("format_version",), f"there is no format version {version}: {reads}"


def _read(path: Path) -> str:
    """The file's text, reading no more than one byte past the size limit (a device or a
    growing file is never read whole)."""
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_PROTOCOL_BYTES + 1)
    except OSError as error:
        raise ProtocolError(f"{path}: cannot read the protocol file: {error.strerror}") from None
    if len(content) > MAX_PROTOCOL_BYTES:
        raise ProtocolError(
            f"{path}: the protocol file is larger than {MAX_PROTOCOL_BYTES // 1_000_000} MB, "
            "the most a protocol file may be; check that this is the protocol file"
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: not UTF-8 text; save the protocol file as UTF-8") from None


def _parse_yaml(text: str, path: Path) -> tuple[Any, dict[Location, int]]:
    loader = _ProtocolLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _Refused as error:
        where = f"{path}:{error.problem_mark.line + 1}" if error.problem_mark else str(path)
        raise ProtocolError(f"{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ProtocolError(f"{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
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
