"""A baseline chat relay to compare the real server with: one thread per client.

It mimics the naive relay that tcpchat replaces: a thread per connection,
one ``recv`` turned into one ``sendall`` to every other member, no queues,
no flow control, no text hygiene. It speaks just enough of the wire
protocol (greeting ending in a nickname prompt, ``*** Welcome, NICK!``,
``<nick> text`` lines ending CRLF) for ``bench/loadgen.py --target`` to
drive it, so the two can be measured by the same tool:

    python bench/baseline_relay.py --port 7001 &
    python bench/loadgen.py --workload W1 --target 127.0.0.1:7001 --server-pid $!

It binds to 127.0.0.1 only and is a benchmark fixture, not a server to use.
"""

from __future__ import annotations

import argparse
import resource
import socket
import threading

GREETING = (
    b"*** Welcome to the baseline relay (one thread per client).\r\n"
    b"*** Please choose a nickname (1-20 letters, digits, _ or -):\r\n"
)


class Relay:
    """The room: every member's socket, each with its own send lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[socket.socket, threading.Lock] = {}

    def broadcast(self, sender: socket.socket | None, data: bytes) -> None:
        """Send ``data`` to every member but ``sender``; drop members that fail."""
        with self._lock:
            targets = [(s, lk) for s, lk in self._members.items() if s is not sender]
        for sock, lock in targets:
            try:
                with lock:
                    sock.sendall(data)
            except OSError:
                self.leave(sock)

    def join(self, sock: socket.socket) -> None:
        with self._lock:
            self._members[sock] = threading.Lock()

    def leave(self, sock: socket.socket) -> None:
        with self._lock:
            self._members.pop(sock, None)

    def serve(self, sock: socket.socket) -> None:
        """Handshake, then relay every complete line this client sends."""
        buf = b""
        nick = b""
        try:
            sock.sendall(GREETING)
            while not nick:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
                while b"\n" in buf and not nick:
                    line, buf = buf.split(b"\n", 1)
                    nick = line.strip()
            sock.sendall(b"*** Welcome, " + nick + b"! Type /quit to leave.\r\n")
            self.join(sock)
            self.broadcast(sock, b"*** " + nick + b" has joined\r\n")
            prefix = b"<" + nick + b"> "
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                *lines, buf = buf.split(b"\n")
                out = [prefix + ln.rstrip(b"\r") + b"\r\n" for ln in lines if ln.strip()]
                if out:
                    self.broadcast(sock, b"".join(out))
        except OSError:
            pass
        finally:
            self.leave(sock)
            sock.close()
            if nick:
                self.broadcast(None, b"*** " + nick + b" has left\r\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=7001, help="TCP port on 127.0.0.1")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    threading.stack_size(256 * 1024)
    relay = Relay()
    listener = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    print(f"baseline relay on 127.0.0.1:{args.port}", flush=True)
    try:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=relay.serve, args=(conn,), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()


if __name__ == "__main__":
    main()
