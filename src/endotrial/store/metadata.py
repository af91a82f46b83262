"""All tables registered on one MetaData (imported by Alembic and by the drift check)."""

from endotrial.store import audit, models
from endotrial.store.base import Base

target_metadata = Base.metadata
__all__ = ["audit", "models", "target_metadata"]
