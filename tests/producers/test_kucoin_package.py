"""Package hygiene: sorted public names that exist, and no I/O imports in the protocol core."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "producers" / "kucoin"
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py"))
FORBIDDEN = {"websockets", "httpx", "asyncio", "confluent_kafka", "aiokafka", "time", "os", "socket", "faust"}


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_once(name: str) -> None:
    """The order itself (isort style: constants, classes, functions) is enforced by ruff's RUF022."""
    module = importlib.import_module(f"producers.kucoin{'' if name == '__init__' else '.' + name}")
    names = module.__all__
    assert len(set(names)) == len(names)
    assert all(hasattr(module, attr) for attr in names)


@pytest.mark.parametrize("name", MODULES)
def test_no_io_imports(name: str) -> None:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
    }
    assert not imported & FORBIDDEN
