"""A server environment's requirements (services/requirements/stack.py) and pip's reason when they cannot install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flasklab.core.catalog import load_servers
from flasklab.core.userapp import UserAppError, check_resolvable, pip_reason
from flasklab.measure.backends.local import Environments

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "services" / "requirements"
FLASK2 = ROOT / "examples" / "flask2" / "requirements.txt"


def stack(server: str, user_app: Path | None = None) -> list[str]:
    """What stack.py merges for a server file (and a user's app's requirements), as the Dockerfile runs it."""
    files = [REQUIREMENTS / server, REQUIREMENTS / "app.txt", *([user_app] if user_app else [])]
    command = [sys.executable, str(REQUIREMENTS / "stack.py"), *map(str, files)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()


@pytest.mark.real
def test_the_lab_app_runs_on_the_lab_flask_stack() -> None:
    lines = stack("servers.txt", REQUIREMENTS / "none.txt")
    assert "Flask==3.1.3" in lines and "Werkzeug==3.1.9" in lines and "gunicorn==27.0.1" in lines


@pytest.mark.real
def test_an_app_naming_flask_brings_its_whole_stack() -> None:
    lines = stack("servers.txt", FLASK2)
    assert {"Flask==2.2.5", "Werkzeug==2.2.3", "click==8.1.8", "MarkupSafe==3.0.3"} <= set(lines)
    assert not {"Flask==3.1.3", "Werkzeug==3.1.9", "click==8.5.1", "blinker==1.9.0"} & set(lines)
    assert "gunicorn==27.0.1" in lines and "gevent==26.9.0" in lines  # the server's own packages stay


@pytest.mark.real
def test_an_app_with_libraries_only_gets_the_lab_flask_stack(tmp_path: Path) -> None:
    shop = ROOT / "examples" / "shop" / "requirements.txt"
    assert {"Flask==3.1.3", "python-slugify==9.1.3"} <= set(stack("servers.txt", shop))


@pytest.mark.real
def test_a_server_package_stays_the_servers(tmp_path: Path) -> None:
    """The app naming gunicorn does not replace the server's gunicorn: both go to pip, which says if they disagree."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("gunicorn==25.3.0\ngreenlet==3.5.6\n")
    lines = stack("servers.txt", requirements)
    assert "gunicorn==27.0.1" in lines and "gunicorn==25.3.0" in lines and lines.count("greenlet==3.5.6") == 1


def test_every_requirements_file_pins_every_line() -> None:
    """Fully pinned, so the audit and scripts/bump-pins see every package each environment installs."""
    for path in REQUIREMENTS.glob("*.txt"):
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert all("==" in line for line in lines), path


def test_each_catalog_server_file_declares_its_server_packages() -> None:
    for requirements in {server.requirements for server in load_servers(ROOT).values()}:
        assert "# server packages:" in (ROOT / requirements).read_text(), requirements


@pytest.mark.real
def test_pips_reason_is_its_error_lines_and_the_conflict(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==3.1.3\nflask<3\n")
    with pytest.raises(UserAppError) as raised:
        check_resolvable(requirements)
    message = str(raised.value)
    assert "ERROR: Cannot install" in message and "The conflict is caused by: The user requested" in message
    assert "WARNING" not in message and "for help visit" not in message


def test_pip_reason_without_error_lines_keeps_the_tail() -> None:
    assert pip_reason("something odd\nhappened") == "something odd\nhappened"


@pytest.mark.real
def test_environments_differ_by_the_apps_stack(tmp_path: Path) -> None:
    environments = Environments(ROOT, report=lambda _: None)
    lab = environments.path("services/requirements/servers.txt")
    flask2 = environments.path("services/requirements/servers.txt", FLASK2)
    assert lab != flask2 and flask2.name.startswith("servers+flask2-")
