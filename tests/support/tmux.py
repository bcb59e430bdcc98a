"""A private tmux server for end-to-end tests: programs in real terminals, typed into and read.

Keys are typed with ``send-keys`` and the screen is read with
``capture-pane``, as a person would type and read. Every terminal is
in a UTF-8 locale, 80 columns by 20 rows until resized.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

TIMEOUT = 10.0
WIDTH = 80
HEIGHT = 20


def tmux_program() -> str:
    """The path of ``tmux``, or skip the test saying how to install it."""
    path = shutil.which("tmux")
    if path is None:
        pytest.skip("tmux is not installed: apt-get install -y tmux")
    return path


class Tmux:
    """A tmux server of its own, on a socket in ``directory``.

    Its terminals get ``environment`` (by default this process's), without
    NO_COLOR and TMUX, in a UTF-8 locale.
    """

    def __init__(
        self, program: str, directory: Path, environment: Mapping[str, str] | None = None
    ) -> None:
        self.program = program
        self.directory = directory
        self.socket = directory / "tmux.sock"
        inherited = os.environ if environment is None else environment
        self.environment = {
            name: value for name, value in inherited.items() if name not in ("NO_COLOR", "TMUX")
        }
        self.environment.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color")

    def run(self, *arguments: str) -> str:
        done = subprocess.run(
            [self.program, "-u", "-f", "/dev/null", "-S", str(self.socket), *arguments],
            capture_output=True, text=True, timeout=TIMEOUT, env=self.environment, check=True,
        )
        return done.stdout

    def terminal(
        self, name: str, command: list[str], *, cwd: Path | None = None,
        row_prefix: re.Pattern[str] | None = None,
    ) -> Terminal:
        """Run ``command`` (in ``cwd``) in a new terminal, which stays when it exits.

        When the command exits the terminal shows ``exit status N``, then
        ``terminal restored`` if the terminal's modes are those it had before.
        ``row_prefix`` is taken off the start of the rows read (a program's
        time stamps, say).
        """
        modes = shlex.quote(str(self.directory / f"{name}.modes"))
        script = (
            f'stty -g > {modes}; "$@"; echo "exit status $?"; '
            f'if [ "$(stty -g)" = "$(cat {modes})" ]; then echo "terminal restored"; fi; '
            "sleep 60"
        )
        where = ["-c", str(cwd)] if cwd is not None else []
        self.run("new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), *where,
                 "sh", "-c", script, "sh", *command)
        return Terminal(self, name, row_prefix)

    def stop(self) -> None:
        subprocess.run([self.program, "-S", str(self.socket), "kill-server"],
                       capture_output=True, timeout=TIMEOUT, check=False)


class Terminal:
    """One terminal: type into it, read its screen, resize it."""

    def __init__(self, tmux: Tmux, name: str, row_prefix: re.Pattern[str] | None = None) -> None:
        self.tmux = tmux
        self.name = name
        self.row_prefix = row_prefix

    def type(self, text: str) -> None:
        """Type ``text`` as it is, character by character."""
        self.tmux.run("send-keys", "-t", self.name, "-l", text)

    def press(self, *keys: str) -> None:
        """Press named keys: Enter, Left, Home, C-c, C-d, ..."""
        self.tmux.run("send-keys", "-t", self.name, *keys)

    def type_line(self, text: str) -> None:
        self.type(text)
        self.press("Enter")

    def paste(self, text: str) -> None:
        """Paste ``text`` as a terminal does: bracketed when the program asked for it, each
        LF sent as CR (``tmux paste-buffer -p``)."""
        self.tmux.run("set-buffer", "-b", self.name, "--", text)
        self.tmux.run("paste-buffer", "-p", "-d", "-b", self.name, "-t", self.name)

    def record_output(self, path: Path) -> None:
        """From now on, append every byte the program writes to its terminal to ``path``
        (``tmux pipe-pane``): what the screen does not show, such as a bell, is there."""
        self.tmux.run("pipe-pane", "-o", "-t", self.name, f"cat >> {shlex.quote(str(path))}")

    def resize(self, width: int, height: int = HEIGHT) -> None:
        self.tmux.run("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def screen(self, colours: bool = False) -> list[str]:
        """Every row of the screen as it is, without trailing blanks; with escape codes if
        ``colours``."""
        options = ["-e"] if colours else []
        captured = self.tmux.run("capture-pane", "-p", *options, "-t", self.name)
        return [row.rstrip() for row in captured.splitlines()]

    def rows(self) -> list[str]:
        """The non-empty rows of the screen, without trailing blanks or ``row_prefix``."""
        return [self._unprefixed(row) for row in self.screen() if row]

    def _unprefixed(self, row: str) -> str:
        prefix = self.row_prefix.match(row) if self.row_prefix is not None else None
        return row if prefix is None else row[prefix.end():]

    def wait_until(self, found: Callable[[list[str]], bool], what: str) -> list[str]:
        """Wait until ``found(rows)`` holds of the rows; return the rows then."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            rows = self.rows()
            if found(rows):
                return rows
            assert time.monotonic() < deadline, f"{what}:\n" + "\n".join(rows)
            time.sleep(0.05)

    def wait_for(self, text: str) -> list[str]:
        """Wait until some row contains ``text``; return the rows then."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            rows = self.rows()
            if any(text in row for row in rows):
                return rows
            assert time.monotonic() < deadline, f"{text!r} not on screen:\n" + "\n".join(rows)
            time.sleep(0.05)
