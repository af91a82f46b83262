"""Every field of the protocol format is documented (a test fails when one is not)."""

from pathlib import Path

from pydantic import BaseModel

from endotrial.protocol import models

DOC = (Path(__file__).parents[2] / "docs" / "protocol-file.md").read_text(encoding="utf-8")


def _model_classes() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not models.Strict
    ]


def test_every_protocol_field_is_documented() -> None:
    undocumented = {
        f"{model.__name__}.{field}"
        for model in _model_classes()
        for field in model.model_fields
        if f"`{field}`" not in DOC
    }
    assert not undocumented, f"document these in docs/protocol-file.md: {sorted(undocumented)}"


def test_every_setting_of_the_seed_is_documented(seed_protocol: models.Protocol) -> None:
    missing = [name for name in seed_protocol.settings if f"`{name}`" not in DOC]
    assert not missing
