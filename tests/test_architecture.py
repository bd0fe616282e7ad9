"""The shape of the code, checked like behaviour: layers that depend only downward, no import cycles, no
imports hidden inside functions, files a newcomer can read, and comments that stand on their own.

The layers themselves are declared in `.importlinter` at the repository root and explained in
docs/architecture.md; import-linter (a maintained tool for exactly this) checks them from the source.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "supportnet"

# Where a lazy import is the convention rather than a shortcut: the app factory and the command line import
# what they register when they register it (as Flask apps do), so importing `supportnet` stays cheap.
LAZY_IMPORTS_ALLOWED = {
    PACKAGE / "__init__.py",
    PACKAGE / "cli.py",
    PACKAGE / "web" / "__init__.py",
}

# A module longer than this is doing more than one thing; split it along its sections.
MAX_MODULE_LINES = 750


def _python_files(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders for path in folder.rglob("*.py") if "node_modules" not in path.parts)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():
        pytest.fail("import-linter is not installed: run `make dev-deps`")
    return subprocess.run(
        [str(linter), "--no-cache", "--config", str(root / ".importlinter")],
        cwd=root, capture_output=True, text=True, timeout=300,
    )


def test_layers_depend_only_downward():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_the_layers_contract_catches_an_upward_import(tmp_path):
    # RSVPs sit below memberships: if they imported it, membership code could call back into RSVPs in a circle.
    shutil.copytree(PACKAGE, tmp_path / "supportnet", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    rsvps = tmp_path / "supportnet" / "rsvps.py"
    rsvps.write_text(rsvps.read_text(encoding="utf-8") + "\nfrom supportnet import memberships  # noqa\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "supportnet.rsvps -> supportnet.memberships" in done.stdout


def _layered_modules() -> list[str]:
    config = (ROOT / ".importlinter").read_text(encoding="utf-8")
    return re.findall(r"\bsupportnet(?:\.\w+)+", config.split("layers =", 1)[1])


def test_every_module_has_a_layer():
    layered = _layered_modules()
    graph = grimp.build_graph("supportnet", exclude_type_checking_imports=True)
    # The root package is the app factory, above every layer; a package whose modules sit in different layers
    # (notifications) is only its docstring, which the no-imports check below keeps true.
    unplaced = sorted(
        module for module in graph.modules
        if module != "supportnet"
        and not any(module == layer or module.startswith(layer + ".") for layer in layered)
        and not any(layer.startswith(module + ".") for layer in layered)
    )
    assert unplaced == [], "add the module to a layer in .importlinter (and to docs/architecture.md)"


def _cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(sorted(imports[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(imports.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("supportnet", exclude_type_checking_imports=True)
    imports = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    assert _cycles(imports) == []


def test_packages_split_across_layers_import_nothing():
    # Importing supportnet.notifications.hooks runs the package's __init__ first: if it imported dispatch, every
    # domain module would pull in the layers above it.
    graph = grimp.build_graph("supportnet", exclude_type_checking_imports=True)
    assert graph.find_modules_directly_imported_by("supportnet.notifications") == set()


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(imports) == [["a", "b", "c"]]


def _function_local_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    lines.append(inner.lineno)
    return sorted(set(lines))


def test_no_imports_inside_functions_outside_the_app_factory_and_the_command_line():
    found = [
        f"{_relative(path)}:{line}"
        for path in _python_files(PACKAGE)
        if path not in LAZY_IMPORTS_ALLOWED
        for line in _function_local_imports(path)
    ]
    assert found == [], "import at module level (move code to the right layer instead of hiding a cycle)"


def test_the_scanner_finds_an_import_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\n\ndef f():\n    from supportnet import rsvps\n    return rsvps\n")
    assert _function_local_imports(sample) == [5]


def test_no_module_is_longer_than_a_newcomer_can_read():
    long = {
        _relative(path): count
        for path in _python_files(PACKAGE)
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def _test_module_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [module] if module else []
            if node.level or module in {"tests", ""}:
                names += [alias.name for alias in node.names]
            imported += [name for name in names if name.rsplit(".", 1)[-1].startswith("test_")]
        elif isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names if alias.name.rsplit(".", 1)[-1].startswith("test_")]
    return imported


def test_no_test_module_imports_another_test_module():
    found = {
        _relative(path): names
        for path in _python_files(ROOT / "tests")
        if (names := _test_module_imports(path))
    }
    assert found == {}, "move shared set-up into tests/worlds.py, tests/builders.py or a fixture"


# "issue 9", "Issues 3-5", "DESIGN section 5", "the issue": pointers to texts that are not in the repository.
# (Public standards such as RFC 5545 are fine to cite: anyone can read them.)
OUTSIDE_REFERENCE = re.compile(r"(?i:\bissues? #?\d+|\bthe issue\b)|\bDESIGN\b")


def _comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    found = [
        (number, line[line.index("#"):])
        for number, line in enumerate(source.splitlines(), 1)
        if "#" in line and OUTSIDE_REFERENCE.search(line[line.index("#"):])
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and OUTSIDE_REFERENCE.search(doc):
                found.append((getattr(node, "lineno", 1), doc.splitlines()[0]))
    return found


def test_comments_stand_on_their_own():
    folders = [PACKAGE, ROOT / "tests", ROOT / "bench", ROOT / "migrations"]
    found = [
        f"{_relative(path)}:{line}: {text.strip()}"
        for path in _python_files(*folders)
        if path != Path(__file__).resolve()
        for line, text in _comments_and_docstrings(path)
    ]
    assert found == [], "say why in the comment itself; the design lives in docs/"


def test_template_comments_stand_on_their_own():
    templates = ROOT / "templates"
    found = [
        f"{_relative(path)}:{number}: {line.strip()}"
        for path in sorted(templates.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ("{#" in line or "<!--" in line) and OUTSIDE_REFERENCE.search(line)
    ]
    assert found == []


def test_the_readme_names_every_blueprint(app):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"blueprints by URL area \(([^)]*)\)", readme)
    assert listed, "the README's module list names the blueprints"
    named = set(re.findall(r"`(\w+)`", listed.group(1)))
    assert named == set(app.blueprints)
