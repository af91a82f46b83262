"""Whether the signed-in user's role may do an operation: what a shell asks before it offers a
link or a form (the operation itself checks again, with her sites, when she does it)."""

from __future__ import annotations

from endotrial.services.context import Actor, Study, reading
from endotrial.services.errors import NotSignedIn, PermissionDenied
from endotrial.services.permissions import Operation, operations_of


def permitted(study: Study, actor: Actor, operation: Operation) -> bool:
    """True when her role may do `operation`; a session that is not signed in is refused as by
    any read (NotSignedIn)."""
    try:
        with reading(study, actor, operation):
            return True
    except NotSignedIn:
        raise  # a refusal of the session, not of her role: the shell sends her to sign in
    except PermissionDenied:
        return False


def permitted_operations(study: Study, actor: Actor) -> frozenset[Operation]:
    """Every operation her role may do, read once (a page offering several forms); none for a
    deactivated account. A session that is not signed in is refused (NotSignedIn)."""
    try:
        with reading(study, actor, Operation.READ_OWN_ACCOUNT) as tx:
            role = tx.ctx.role
    except NotSignedIn:
        raise
    except PermissionDenied:
        return frozenset()
    return operations_of(role)
