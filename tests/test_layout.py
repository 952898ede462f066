"""The two process worlds stay apart: the rule of flasklab.loadgen's docstring, read from every module's imports.

The orchestrator (every flasklab module outside flasklab.loadgen) never imports flasklab.loadgen, nor Locust or
gevent; flasklab.loadgen imports only itself and the pure modules both worlds share, and those import only each other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "flasklab"
LOADGEN = "flasklab.loadgen"
PATCHING = ("locust", "gevent")  # importing Locust monkey-patches the process with gevent
SHARED = {  # pure: no Locust, no gevent, no orchestrator; the Locust process may import them
    "flasklab.core.analysis",  # with standing and bottleneck: the stopping rule's thresholds (adaptive steps)
    "flasklab.core.arrivals",
    "flasklab.core.bottleneck",
    "flasklab.core.catalog",
    "flasklab.core.generator_side",
    "flasklab.core.intervals",
    "flasklab.core.protocol",
    "flasklab.core.results",
    "flasklab.core.run_record",
    "flasklab.core.settings",
    "flasklab.core.standing",
    "flasklab.core.steady",
    "flasklab.core.step_record",
    "flasklab.core.stopping",
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module ``path`` imports, anywhere in it (a function's own imports too), relative ones resolved."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from flasklab import loadgen`
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_orchestrator_never_imports_the_locust_process() -> None:
    forbidden = [
        f"{path.relative_to(PACKAGE.parents[1])} imports {name}"
        for module, path in modules().items()
        if not within(module, LOADGEN)
        for name in sorted(imported(path))
        if within(name, LOADGEN) or any(within(name, patching) for patching in PATCHING)
    ]
    assert forbidden == [], "the orchestrator must not import the Locust process's world:\n" + "\n".join(forbidden)


def test_the_locust_process_imports_only_itself_and_the_shared_pure_modules() -> None:
    forbidden = [
        f"{path.relative_to(PACKAGE.parents[1])} imports {name}"
        for module, path in modules().items()
        if within(module, LOADGEN) or module in SHARED
        for name in sorted(imported(path))
        if within(name, "flasklab") and name != "flasklab" and not within(name, LOADGEN)
        if not any(within(name, shared) for shared in SHARED)
    ]
    impure = [
        f"{path.relative_to(PACKAGE.parents[1])} imports {name}"
        for module, path in modules().items()
        if module in SHARED
        for name in sorted(imported(path))
        if any(within(name, patching) for patching in PATCHING)
    ]
    assert forbidden + impure == [], "flasklab.loadgen may import only itself and the shared pure modules:\n" + (
        "\n".join(forbidden + impure)
    )


def test_the_shared_modules_are_still_there() -> None:
    """A renamed shared module must be renamed here too, or the rule above would quietly stop applying."""
    assert set(modules()) >= SHARED


@pytest.mark.real
def test_importing_the_package_does_not_patch_the_process() -> None:
    """``import flasklab.loadgen`` (the package, its docstring) loads neither Locust nor gevent."""
    probe = "import sys, flasklab.loadgen; print(sorted({m.split('.')[0] for m in sys.modules} & {'locust', 'gevent'}))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_every_package_is_installed() -> None:
    """A subpackage missing from pyproject's list works in the editable install and vanishes from the images."""
    project = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    assert {module_name(init) for init in PACKAGE.rglob("__init__.py")} <= listed


# The pipeline's stages and what each may import (besides itself): core is the ground; measurement, the views and the
# planner stand on it side by side; the command line ties them together. The Locust process has its own rule above.
STAGES = {
    "flasklab.core": set(),
    "flasklab.measure": {"flasklab.core"},
    "flasklab.views": {"flasklab.core"},
    "flasklab.planning": {"flasklab.core"},
    "flasklab.cli": {"flasklab.core", "flasklab.measure", "flasklab.views", "flasklab.planning"},
}


def stage_of(name: str) -> str | None:
    return next((stage for stage in STAGES if within(name, stage)), None)


def test_every_module_belongs_to_a_stage() -> None:
    """The folder tree is the pipeline: no module sits loose beside the stages (only the package's entry points)."""
    loose = [
        module
        for module in modules()
        if stage_of(module) is None and not within(module, LOADGEN)
        if module not in ("flasklab", "flasklab.__main__")
    ]
    assert loose == [], f"modules outside every stage: {loose}"


def test_imports_flow_one_way_between_the_stages() -> None:
    """Views and the planner read results and analysis, never the runner; core imports no stage above it."""
    wrong = [
        f"{path.relative_to(PACKAGE.parents[1])} ({stage}) imports {name}"
        for module, path in modules().items()
        if (stage := stage_of(module)) is not None
        for name in sorted(imported(path))
        if (other := stage_of(name)) is not None and other != stage and other not in STAGES[stage]
    ]
    assert wrong == [], "imports that run against the pipeline:\n" + "\n".join(wrong)


def test_the_stage_rule_sees_an_import_against_the_flow(tmp_path: Path) -> None:
    """The rule reads lazy and relative imports too: a view importing the runner inside a function is caught."""
    view = tmp_path / "flasklab" / "views" / "sneaky.py"
    view.parent.mkdir(parents=True)
    view.write_text("def later() -> None:\n    from ..measure.runner import Run\n")
    names = {
        name
        for name in imported(view, tmp_path / "flasklab")
        if (other := stage_of(name)) is not None and other not in STAGES["flasklab.views"] | {"flasklab.views"}
    }
    assert names == {"flasklab.measure.runner", "flasklab.measure.runner.Run"}


# Files that fit in a head: a module, a class or a function longer than this says why at its top, in its docstring,
# on a line that begins "Why this is long:".
MAX_LINES = {"module": 400, "class": 150, "function": 50}
REASON = "Why this is long:"


def too_long(path: Path, root: Path = PACKAGE.parents[1]) -> list[str]:
    tree = ast.parse(path.read_text())
    lines = len(path.read_text().splitlines())
    found = []
    if lines > MAX_LINES["module"] and REASON not in (ast.get_docstring(tree) or ""):
        found.append(f"{path.relative_to(root)}: {lines} lines")
    for node in ast.walk(tree):
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_LINES[kind] and REASON not in (ast.get_docstring(node) or ""):
            found.append(f"{path.relative_to(root)}: {kind} {node.name}, {length} lines")
    return found


def test_modules_classes_and_functions_fit_in_a_head() -> None:
    found = [problem for path in modules().values() for problem in too_long(path)]
    assert found == [], "longer than the layout allows, without a reason at its top:\n" + "\n".join(found)


def test_the_size_rule_sees_a_long_function_and_its_reason(tmp_path: Path) -> None:
    body = "\n".join(f"    x{n} = {n}" for n in range(60))
    long = tmp_path / "long.py"
    long.write_text(f"def long() -> None:\n{body}\n\n\ndef explained() -> None:\n    '''{REASON} a test.'''\n{body}\n")
    assert too_long(long, tmp_path) == ["long.py: function long, 61 lines"]
