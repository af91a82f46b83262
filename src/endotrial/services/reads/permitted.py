"""Whether the signed-in user's role may do an operation: what a shell asks before it offers a
link or a form (the operation itself checks again, with her sites, when she does it)."""

from __future__ import annotations

from endotrial.services.context import Actor, Study, reading
from endotrial.services.errors import PermissionDenied
from endotrial.services.permissions import Operation


def permitted(study: Study, actor: Actor, operation: Operation) -> bool:
    """True when her role may do `operation`; a session that is not signed in is refused as by
    any read (NotSignedIn)."""
    try:
        with reading(study, actor, operation):
            return True
    except PermissionDenied:
        return False
