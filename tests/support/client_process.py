"""The client program run by tests in pipe mode: once to the end, or in the background.

Like twistd (see :mod:`tests.support.servers`), it runs this checkout's
``chat``: the checkout's root is first on its PYTHONPATH and its folder.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tests.support.servers import ROOT, checkout_environment

CLIENT = [sys.executable, "-m", "chat.client"]
TIMEOUT = 10.0


def client_environment(root: Path = ROOT) -> dict[str, str]:
    """The environment of a client process: the checkout ``root`` importable, no NO_COLOR."""
    environment = checkout_environment(root)
    environment.pop("NO_COLOR", None)
    return environment


def run_client(
    arguments: list[str], given: str, root: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run the client of checkout ``root`` with ``given`` piped to it until it exits."""
    return subprocess.run(
        [*CLIENT, *arguments],
        input=given,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=root,
        env=client_environment(root),
        check=False,
    )


class BackgroundClient:
    """A client in pipe mode whose input the test writes while it runs."""

    def __init__(self, arguments: list[str]) -> None:
        self.process = subprocess.Popen(
            [*CLIENT, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=client_environment(),
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.printed: list[str] = []
        self.stdout = self._follow(self.process.stdout, self.printed)
        self.stderr = self._follow(self.process.stderr, [])

    @staticmethod
    def _follow(stream: IO[str], transcript: list[str]) -> queue.Queue[str]:
        """Lines of ``stream`` as they come, also kept whole in ``transcript``."""
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            for line in stream:
                transcript.append(line)
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        return lines

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def end_input(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    @staticmethod
    def wait_for(lines: queue.Queue[str], text: str) -> str:
        """The first line from now on ``lines`` that contains ``text``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if text in line:
                return line

    def exit_status(self) -> int:
        return self.process.wait(TIMEOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
