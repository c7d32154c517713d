"""The shape of the package that docs/architecture.md promises: one-way imports, thin front
ends, a core that never prints, and pieces small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "distributie"
MODULES = sorted(PACKAGE.rglob("*.py"))

# Who may import whom: data flows compose -> delivery -> ledger, and front ends sit on
# operations. (settings, errors and states are shared by all.)
FORBIDDEN = {
    "compose": ("distributie.ledger", "distributie.delivery", "distributie.operations",
                "distributie.runtime", "distributie.cli", "redis", "smtplib", "celery"),
    "ledger": ("distributie.delivery", "distributie.operations", "distributie.cli",
               "distributie.runtime"),
    "delivery": ("distributie.operations", "distributie.cli"),
    "runtime": ("distributie.operations", "distributie.cli", "distributie.delivery",
                "distributie.compose"),
    "operations": ("distributie.cli",),
    "bounces": ("distributie.operations", "distributie.cli", "distributie.delivery"),
    "cli": ("distributie.ledger", "distributie.delivery"),
    "web": ("distributie.ledger", "distributie.delivery", "distributie.cli"),
    "accounts": ("distributie.web", "distributie.cli", "distributie.operations",
                 "distributie.delivery"),
}  # fmt: skip


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_imports_against_the_flow(path: Path) -> None:
    concern = path.relative_to(PACKAGE).parts[0]
    forbidden = FORBIDDEN.get(concern, ())

    imports = _imports(ast.parse(path.read_text()))

    assert sorted(i for i in imports if i.startswith(forbidden)) == []


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_the_front_ends_talk_to_the_terminal(path: Path) -> None:
    if path.relative_to(PACKAGE).parts[0] in ("cli", "web"):
        pytest.skip("a front end")
    tree = ast.parse(path.read_text())

    prints = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]

    assert prints == []
    assert "rich" not in {i.split(".")[0] for i in _imports(tree)}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_modules_functions_and_classes_stay_readable(path: Path) -> None:
    text = path.read_text()
    tree = ast.parse(text)
    too_long = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            limit = 250 if isinstance(node, ast.ClassDef) else 60
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                too_long.append(f"{node.name}: {length} lines (at most {limit})")

    assert len(text.splitlines()) <= 400
    assert too_long == []


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_every_module_says_what_it_is_for(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text()))
