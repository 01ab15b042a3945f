"""Imports point one way (DESIGN.md): idp imports nothing of ours outside idp; sp_fixtures may
import idp.saml and nothing else of idp; scenarios may import both."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("idp", "sp_fixtures", "scenarios")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def allowed(package: str, module: str) -> bool:
    top = module.split(".")[0]
    if top not in PACKAGES:
        return True
    if package == "idp":
        return top == "idp"
    if package == "sp_fixtures":
        return top == "sp_fixtures" or module == "idp.saml" or module.startswith("idp.saml.")
    return True


@pytest.mark.parametrize("package", ["idp", "sp_fixtures"])
def test_imports_point_one_way(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in imported_modules(path)
        if not allowed(package, module)
    ]
    assert wrong == []


def test_the_check_can_fail() -> None:
    assert not allowed("idp", "sp_fixtures.verify")
    assert not allowed("sp_fixtures", "idp.provider")
    assert allowed("sp_fixtures", "idp.saml.constants")
    assert allowed("scenarios", "idp.provider")
