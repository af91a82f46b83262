"""All tables registered on one MetaData (imported by Alembic and by the drift check)."""

from endotrial.store import audit, auth, models, request_keys
from endotrial.store.base import Base

target_metadata = Base.metadata
__all__ = ["audit", "auth", "models", "request_keys", "target_metadata"]
