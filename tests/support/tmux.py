"""A private tmux server for end-to-end tests: programs in real terminals, typed into and read.

Keys are typed with ``send-keys`` and the screen is read with
``capture-pane``, as a person would type and read. Every terminal is
in a UTF-8 locale, 80 columns by 20 rows.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

TIMEOUT = 10.0


class Tmux:
    """A tmux server of its own, on a socket in ``directory``."""

    def __init__(self, program: str, directory: Path) -> None:
        self.program = program
        self.socket = directory / "tmux.sock"
        self.environment = {
            name: value for name, value in os.environ.items() if name not in ("NO_COLOR", "TMUX")
        }
        self.environment.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color")

    def run(self, *arguments: str) -> str:
        done = subprocess.run(
            [self.program, "-u", "-f", "/dev/null", "-S", str(self.socket), *arguments],
            capture_output=True, text=True, timeout=TIMEOUT, env=self.environment, check=True,
        )
        return done.stdout

    def terminal(self, name: str, command: list[str]) -> Terminal:
        """Run ``command`` in a new terminal; when it exits, the terminal says so and stays."""
        script = '"$@"; echo "exit status $?"; sleep 60'
        self.run("new-session", "-d", "-s", name, "-x", "80", "-y", "20",
                 "sh", "-c", script, "sh", *command)
        return Terminal(self, name)

    def stop(self) -> None:
        subprocess.run([self.program, "-S", str(self.socket), "kill-server"],
                       capture_output=True, timeout=TIMEOUT, check=False)


class Terminal:
    """One terminal: type into it, read its screen."""

    def __init__(self, tmux: Tmux, name: str) -> None:
        self.tmux = tmux
        self.name = name

    def type(self, text: str) -> None:
        """Type ``text`` as it is, character by character."""
        self.tmux.run("send-keys", "-t", self.name, "-l", text)

    def press(self, *keys: str) -> None:
        """Press named keys: Enter, C-c, ..."""
        self.tmux.run("send-keys", "-t", self.name, *keys)

    def type_line(self, text: str) -> None:
        self.type(text)
        self.press("Enter")

    def rows(self) -> list[str]:
        """The non-empty rows of the screen, without trailing blanks."""
        captured = self.tmux.run("capture-pane", "-p", "-t", self.name)
        return [row.rstrip() for row in captured.splitlines() if row.strip()]

    def wait_for(self, text: str) -> list[str]:
        """Wait until some row contains ``text``; return the rows then."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            rows = self.rows()
            if any(text in row for row in rows):
                return rows
            assert time.monotonic() < deadline, f"{text!r} not on screen:\n" + "\n".join(rows)
            time.sleep(0.05)

