"""The client program run by tests in pipe mode: once to the end, or in the background."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
CLIENT = [sys.executable, "-m", "chat.client"]
TIMEOUT = 10.0

def client_environment() -> dict[str, str]:
    """The environment of a client process: the project importable, no NO_COLOR."""
    environment = {name: value for name, value in os.environ.items() if name != "NO_COLOR"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), environment.get("PYTHONPATH")])
    )
    return environment


def run_client(arguments: list[str], given: str) -> subprocess.CompletedProcess[str]:
    """Run the client with ``given`` piped to it until it exits."""
    return subprocess.run(
        [*CLIENT, *arguments],
        input=given,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env=client_environment(),
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
