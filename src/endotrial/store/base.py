"""Declarative base and the mixin every audited trial-data table shares."""

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Enum, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from endotrial.store.types import UTCDateTime

# Deterministic constraint names, so migrations can alter them on every dialect (SQLite batch mode).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Root of all endotrial tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        list[str]: JSON(),
    }


def str_enum(enum_class: type[enum.Enum]) -> Enum:
    """Store an enum by its value as a short string (portable; no native PostgreSQL type)."""
    return Enum(
        enum_class,
        native_enum=False,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        length=32,
    )


class Audited(Base):
    """A table whose every insert, update and delete is written to the audit trail.

    `version` is SQLAlchemy's version counter: an UPDATE or DELETE only matches the row as it was
    loaded, so a concurrent change is refused (ConflictError) instead of silently overwritten.
    """

    __abstract__ = True
    #: Columns whose values never enter the audit trail (only the fact that they changed).
    __audit_redacted__: ClassVar[frozenset[str]] = frozenset()

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}
