"""The package's public surface: each package says what it offers (`__all__`), offers nothing
else by accident, and no package reaches into another's private names."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import pytest

import endotrial

SOURCE = Path(endotrial.__file__).parent


def _packages() -> list[str]:
    names = ["endotrial"]
    for info in pkgutil.walk_packages([str(SOURCE)], prefix="endotrial."):
        if info.ispkg and not info.name.endswith((".migrations", ".protocols")):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _packages())
def test_a_package_offers_exactly_what_its_all_lists(name: str) -> None:
    package = importlib.import_module(name)
    listed = getattr(package, "__all__", None)
    assert listed is not None, f"{name} has no __all__: list its public names"
    assert len(listed) == len(set(listed)), f"{name}.__all__ lists a name twice"
    missing = [n for n in listed if not hasattr(package, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
    public = {
        n
        for n, value in vars(package).items()
        if not n.startswith("_") and not isinstance(value, types.ModuleType) and n != "annotations"
    }
    unlisted = sorted(public - set(listed))
    assert not unlisted, f"{name} offers names its __all__ does not list: {unlisted}"


def _top(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _private_imports_across_packages() -> list[str]:
    found = []
    for path in SOURCE.rglob("*.py"):
        module = ".".join(path.relative_to(SOURCE.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module.startswith("endotrial"):
                if _top(node.module) == _top(module):
                    continue  # within one top-level package, its private helpers are shared
                for alias in node.names:
                    if alias.name.startswith("_") or any(
                        part.startswith("_") for part in node.module.split(".")
                    ):
                        found.append(f"{module} imports {alias.name} from {node.module}")
    return sorted(found)


def test_no_package_imports_another_packages_private_names() -> None:
    assert _private_imports_across_packages() == []
