"""Read-outs of a protocol for people: its labelled assumptions and a short overview."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from endotrial.protocol.models import Assumption, Protocol


@dataclass(frozen=True)
class AssumptionEntry:
    location: str
    reason: str
    source: str | None


def assumptions(protocol: Protocol) -> list[AssumptionEntry]:
    """Every value the registry leaves open, with where it sits in the file and why."""
    return list(_walk(protocol, ""))


def _walk(node: object, location: str) -> Iterator[AssumptionEntry]:
    if isinstance(node, BaseModel):
        found = getattr(node, "assumption", None)
        if isinstance(found, Assumption):
            yield AssumptionEntry(location or "(protocol)", found.reason, found.source)
        for field in type(node).model_fields:
            if field != "assumption":
                yield from _walk(getattr(node, field), _join(location, field))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            key = getattr(child, "id", None) or getattr(child, "name", None) or index
            yield from _walk(child, f"{location}[{key}]")
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from _walk(child, _join(location, str(key)))


def _join(location: str, field: str) -> str:
    return f"{location}.{field}" if location else field
