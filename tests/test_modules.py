"""The project's modules: no import cycle among them, and each imports on its own.

Cycles are found statically, from every import statement anywhere in a module (top level,
``TYPE_CHECKING`` blocks and function bodies alike: a lazy import only hides a cycle). Importing
on its own is checked in one fresh interpreter that forgets the project's modules before each
import, so a module that works only after another one was imported fails here.
"""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "emulation", "deploy")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports, anywhere in its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            # Packages the importer sits in are already being imported: no new edge.
            if name and name != module and not module.startswith(name + "."):
                found.add(name)
    return found


def test_no_import_cycle_among_the_projects_modules() -> None:
    modules = project_modules()
    graph = {name: imported(name, path, set(modules)) for name, path in modules.items()}
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None


def test_a_cycle_is_found_where_there_is_one(tmp_path: Path) -> None:
    """The check above can fail: two modules importing each other make a cycle."""
    (tmp_path / "a.py").write_text("from b import x\n")
    (tmp_path / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n"
    )
    known = {"a", "b"}
    graph = {name: imported(name, tmp_path / f"{name}.py", known) for name in known}
    assert graph == {"a": {"b"}, "b": {"a"}}


def test_every_module_imports_on_its_own() -> None:
    names = [name for name in project_modules() if not name.endswith("__main__")]
    script = textwrap.dedent(
        f"""
        import importlib, json, sys, traceback
        failures = {{}}
        for name in {names!r}:
            for loaded in [m for m in sys.modules if m.split(".")[0] in {PACKAGES!r}]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception:
                failures[name] = traceback.format_exc(limit=-3)
        print(json.dumps(failures))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert failures == {}, "\n".join(f"{name}:\n{tb}" for name, tb in failures.items())
