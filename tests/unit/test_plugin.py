"""The twistd plugin leaves the choice of reactor to twistd (``--reactor``)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.servers import checkout_environment

_IMPORT_PARSE_AND_REPORT = (
    "import sys\n"
    "from twisted.plugins.tcpchat_plugin import serviceMaker\n"
    "serviceMaker.options().parseOptions(['--listen', 'tcp:0', '--listen', 'tcp6:0'])\n"
    "print('twisted.internet.reactor' in sys.modules)\n"
)


def test_importing_the_plugin_and_parsing_its_options_imports_no_reactor() -> None:
    """In a fresh Python, the plugin, its modules and its --listen checks leave
    twisted.internet.reactor unimported, so twistd can still install the one asked for."""
    finished = subprocess.run(
        [sys.executable, "-P", "-c", _IMPORT_PARSE_AND_REPORT], env=checkout_environment(),
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "False"
