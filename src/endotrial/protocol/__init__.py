"""The protocol file: models, loader and the expression language of its criteria."""

from endotrial.protocol.load import (
    bundled_protocol_files,
    default_protocol_id,
    load_protocol,
    load_protocol_file,
)
from endotrial.protocol.models import Protocol

__all__ = [
    "Protocol",
    "bundled_protocol_files",
    "default_protocol_id",
    "load_protocol",
    "load_protocol_file",
]
