"""The views stand side by side: none imports another; they share analysis, chart_style, pages and the charts.

report, compare, slides, summary and plan each read results.json (and the catalog) through the shared modules:
flasklab.core.analysis for what a step means, flasklab.views.chart_style for how a page looks, flasklab.views.pages for
how a page is rendered, flasklab.views.charts (and its chart families) for the figures. A view that reached into another
(as the slides once took the report's figures, and the planner the report's step arithmetic) would tie two pages'
changes together; this test reads each module's imports with ``ast`` (no import, so no side effect) and names any such
import. A view may span several modules (its parts, PARTS): only that view imports them, and they too import no other
view.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flasklab"
VIEWS = ("views.report", "views.compare", "views.slides", "views.summary", "planning.plan")
SHARED = (
    "core.analysis",
    "views.chart_style",
    "views.pages",
    "views.charts",
    "views.curve_charts",
    "views.moment_charts",
    "views.probe_charts",
    "views.resource_charts",
    "views.headline",
)
# Each module that is part of one view, and that view: the rule holds for the view and its parts as one.
PARTS = {
    "views.progress": "views.report",
    "views.projector": "views.report",
    "views.compare_rule": "views.compare",
}


def imported_modules(module: str, package: Path = PACKAGE) -> set[str]:
    """Every flasklab module that ``flasklab.<module>`` imports, anywhere in it (a function's lazy import too), relative
    imports resolved against the module's own package."""
    path = package / f"{module.replace('.', '/')}.py"
    here = ["flasklab", *module.split(".")[:-1]]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = here[: len(here) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from flasklab.views import report`
    return {name.removeprefix("flasklab.") for name in found if name.startswith("flasklab.")}


def view_of(module: str) -> str:
    """The view a module belongs to: itself for a view, its view for one of PARTS."""
    return PARTS.get(module, module)


@pytest.mark.parametrize("module", VIEWS + tuple(PARTS))
def test_a_view_imports_no_other_view(module: str) -> None:
    others = {other for other in (*VIEWS, *PARTS) if view_of(other) != view_of(module)}
    assert not imported_modules(module) & others, f"flasklab.{module} imports another view (or a part of one)"


@pytest.mark.parametrize("module", SHARED)
def test_the_shared_modules_import_no_view(module: str) -> None:
    assert not imported_modules(module) & {*VIEWS, *PARTS}, f"flasklab.{module} imports a view"


def test_every_views_module_is_a_view_a_part_or_shared() -> None:
    """A new module under views/ must be placed: else the rule above would say nothing about it."""
    placed = {*VIEWS, *PARTS, *SHARED, "views.live", "views.export"}  # live serves the pages; export writes files
    found = {f"views.{path.stem}" for path in (PACKAGE / "views").glob("*.py") if path.stem != "__init__"}
    assert found <= placed, f"place these in VIEWS, PARTS or SHARED: {sorted(found - placed)}"


def test_report_and_slides_draw_the_figures_of_charts() -> None:
    assert "views.charts" in imported_modules("views.report")
    assert "views.charts" in imported_modules("views.slides")


def test_the_rule_sees_every_form_of_import(tmp_path: Path) -> None:
    """The reader catches `import flasklab.x`, `from flasklab.x import y`, `from flasklab import x`, relative and
    lazy imports: a rule that missed one would pass for the wrong reason."""
    (tmp_path / "views").mkdir()
    (tmp_path / "views" / "probe.py").write_text(
        "import flasklab.views.report\n"
        "from flasklab.views.compare import compare_runs\n"
        "from flasklab.views import slides\n"
        "from .summary import catalog_table\n"
        "def later() -> None:\n"
        "    from ..planning.plan import plan_capacity\n"
    )
    assert set(VIEWS) <= imported_modules("views.probe", tmp_path)
