"""The programs the tests start run this checkout's code, not an installed copy.

Each test copies the checkout's ``chat`` and its twistd plugin, changes a text
of the copy that the program prints, and starts the program from the copy as
the end-to-end tests start it from the checkout: only the copy's code prints
the changed text.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.client_process import run_client
from tests.support.servers import ROOT, run_twistd

pytestmark = pytest.mark.e2e

PLUGIN = Path("twisted", "plugins", "tcpchat_plugin.py")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the code of this checkout, in a folder of its own."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "chat", checkout / "chat", ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / PLUGIN).parent.mkdir(parents=True)
    shutil.copy(ROOT / PLUGIN, checkout / PLUGIN)
    return checkout


def rewrite(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` (which must be there) with ``new`` in the file at ``path``."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_twistd_finds_the_plugin_and_chat_of_the_checkout(copy: Path, tmp_path: Path) -> None:
    """twistd started from the copy lists the copy's plugin and prints the copy's options."""
    rewrite(copy / PLUGIN, 'description = "', 'description = "Copied plugin: ')
    rewrite(copy / "chat" / "options.py", 'synopsis = "', 'synopsis = "copied chat ')
    plugins = run_twistd(tmp_path, ["--help"], root=copy)
    assert "Copied plugin: " in plugins.stdout, plugins.stdout + plugins.stderr
    options = run_twistd(tmp_path, ["tcpchat", "--help"], root=copy)
    assert options.stdout.startswith("Usage: twistd [options] tcpchat copied chat "), (
        options.stdout + options.stderr
    )


def test_the_client_runs_the_chat_of_the_checkout(copy: Path) -> None:
    """The client started from the copy prints the copy's description."""
    rewrite(copy / "chat" / "client" / "options.py", '_DESCRIPTION = """\\\n',
            '_DESCRIPTION = """\\\nA copied client.\n')
    ended = run_client(["--help"], "", root=copy)
    assert ended.returncode == 0, ended.stderr
    assert "\nA copied client.\n" in ended.stdout
