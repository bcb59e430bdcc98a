"""Redis client certificates: ``rediss://HOST:PORT?ca=PEM&cert=PEM&key=PEM``.

:func:`client_auth_redis` starts a real redis-server answering TLS only with
``tls-auth-clients yes``: it trusts one self-signed client certificate as its
authority, and shows a self-signed certificate for localhost. The node's
connection, the blocking commands, ``twistd tcpchat`` and ``tcpchat-admin``
get in with the client certificate, and not without. If this redis-server
has no TLS, the tests are skipped, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from chat.redis.address import RedisAddress, RedisError, blocking_command, parse_url
from tests.support.certificates import self_signed
from tests.support.redis_server import REDIS_SERVER
from tests.support.servers import (
    RunningServer,
    checkout_environment,
    foreground,
    free_port,
    run_twistd,
)
from tests.unit.test_redis_connection import reached_both_ways

START_TIMEOUT = 10.0


@dataclass(frozen=True)
class ClientAuthRedis:
    """A TLS redis-server that asks for a client certificate, and the files to give it."""

    address: RedisAddress
    """Where it is, with the authority, client certificate and key to reach it."""
    folder: Path

    @property
    def url(self) -> str:
        a = self.address
        return f"rediss://{a.host}:{a.port}?ca={a.ca}&cert={a.cert}&key={a.key}"


@pytest.fixture(scope="module")
def client_auth_redis() -> Iterator[ClientAuthRedis]:
    """A redis-server on a loopback port answering TLS only, to clients whose certificate
    its authority file holds."""
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip(f"{REDIS_SERVER} is not installed")
    folder = Path(tempfile.mkdtemp(prefix="tcpchat-tls-client-"))
    server_key, server_certificate = self_signed("localhost")
    client_key, client_certificate = self_signed("tcpchat-node")
    files = {"server-key.pem": server_key, "ca.pem": server_certificate,
             "client-key.pem": client_key, "client.pem": client_certificate}
    for name, pem in files.items():
        (folder / name).write_bytes(pem)
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--bind", "127.0.0.1", "--tls-port", str(port),
         "--tls-cert-file", str(folder / "ca.pem"), "--tls-key-file",
         str(folder / "server-key.pem"), "--tls-ca-cert-file", str(folder / "client.pem"),
         "--tls-auth-clients", "yes", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    address = RedisAddress("localhost", port, tls=True, ca=str(folder / "ca.pem"),
                           cert=str(folder / "client.pem"), key=str(folder / "client-key.pem"),
                           timeout=2.0)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                said = (process.stdout.read() if process.stdout else b"").decode(errors="replace")
                if "tls" in said.lower():
                    pytest.skip(f"this redis-server has no TLS: {said.strip()[:200]}")
                pytest.fail(f"redis-server exited: {said} (see {folder}/redis.log)")
            try:
                blocking_command(address, "PING")
                break
            except RedisError:
                assert time.monotonic() < deadline, "TLS redis-server not up within 10s"
                time.sleep(0.02)
        yield ClientAuthRedis(address, folder)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(START_TIMEOUT)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_url_names_the_client_certificate_and_its_key(tmp_path: Path) -> None:
    """cert= and key= of a rediss:// URL are the address's client certificate and key."""
    key, certificate = self_signed("tcpchat-node")
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "cert.pem").write_bytes(certificate)
    address = parse_url(f"rediss://localhost:6380?cert={tmp_path}/cert.pem&key={tmp_path}/key.pem")
    assert (address.tls, address.cert, address.key) == (
        True, f"{tmp_path}/cert.pem", f"{tmp_path}/key.pem"
    )


def test_one_file_may_hold_the_certificate_and_its_key(tmp_path: Path) -> None:
    """cert= alone names a PEM file holding both; key is then None."""
    key, certificate = self_signed("tcpchat-node")
    (tmp_path / "both.pem").write_bytes(certificate + key)
    address = parse_url(f"rediss://localhost?cert={tmp_path}/both.pem")
    assert (address.cert, address.key) == (f"{tmp_path}/both.pem", None)


@pytest.mark.parametrize("setting", ["cert", "key", "ca"])
def test_a_missing_file_is_a_clear_error(tmp_path: Path, setting: str) -> None:
    """A ca, cert or key that is not a file is a ValueError naming the setting and path."""
    key, certificate = self_signed("tcpchat-node")
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "cert.pem").write_bytes(certificate)
    files = {"cert": f"{tmp_path}/cert.pem", "key": f"{tmp_path}/key.pem",
             setting: f"{tmp_path}/missing.pem"}
    query = "&".join(f"{word}={path}" for word, path in files.items())
    with pytest.raises(ValueError, match=f"{setting} '{tmp_path}/missing.pem' is not a file"):
        parse_url(f"rediss://localhost?{query}")


def test_a_key_that_is_not_the_certificates_is_a_clear_error(tmp_path: Path) -> None:
    """A key of another certificate is refused when the URL is read, naming both files."""
    (tmp_path / "cert.pem").write_bytes(self_signed("tcpchat-node")[1])
    (tmp_path / "other-key.pem").write_bytes(self_signed("elsewhere")[0])
    with pytest.raises(ValueError, match="are not a PEM certificate and its private key"):
        parse_url(f"rediss://localhost?cert={tmp_path}/cert.pem&key={tmp_path}/other-key.pem")


def test_a_key_without_a_certificate_is_a_clear_error(tmp_path: Path) -> None:
    """key= alone says that cert= is wanted too."""
    (tmp_path / "key.pem").write_bytes(self_signed("tcpchat-node")[0])
    with pytest.raises(ValueError, match="give cert=PATH too"):
        parse_url(f"rediss://localhost?key={tmp_path}/key.pem")


def test_a_client_certificate_is_for_tls_only(tmp_path: Path) -> None:
    """cert= on a redis:// URL (no TLS) is an unknown setting there."""
    with pytest.raises(ValueError, match="unknown setting 'cert'"):
        parse_url(f"redis://localhost?cert={tmp_path}/cert.pem")


def test_both_connections_get_in_with_the_client_certificate(
    client_auth_redis: ClientAuthRedis,
) -> None:
    """The node's connection and the blocking command show the certificate and are let in."""
    reached_both_ways(client_auth_redis.address, "shown", "certificate")


def test_without_a_client_certificate_redis_refuses(client_auth_redis: ClientAuthRedis) -> None:
    """The same server, reached without cert and key, does not answer: it wants one."""
    anonymous = replace(client_auth_redis.address, cert=None, key=None)
    with pytest.raises(RedisError):
        blocking_command(anonymous, "PING")


@pytest.mark.e2e
def test_tcpchat_admin_reaches_the_accounts_with_the_certificate(
    client_auth_redis: ClientAuthRedis,
) -> None:
    """tcpchat-admin --redis rediss://…&cert=…&key=… adds an account there."""
    done = subprocess.run(
        [sys.executable, "-m", "chat.admin", "--redis", client_auth_redis.url, "add",
         "tlsuser"], env={**checkout_environment(), "TCPCHAT_PASSWORD": "correct horse"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "added account tlsuser\n", "")
    fields = blocking_command(client_auth_redis.address, "HGET", "tcpchat:account:tlsuser", "name")
    assert fields == "tlsuser"


@pytest.mark.e2e
def test_a_node_shows_its_certificate_and_chats(
    client_auth_redis: ClientAuthRedis, tmp_path: Path
) -> None:
    """twistd tcpchat --redis rediss://…&cert=…&key=… starts (its start-up check is let in
    too) and two users on it talk through that Redis."""
    node = RunningServer(tmp_path, ["--db", "", "--history", "0", "--redis", client_auth_redis.url])
    node.start()
    ann = ben = None
    try:
        ann, ben = node.connect("ann"), node.connect("ben")
        ann.expect("ben has joined")
        ann.send_line("with a certificate")
        ben.expect("<ann> with a certificate")
    finally:
        for user in (ann, ben):
            if user is not None:
                user.close()
        try:
            node.stop()
        finally:
            node.kill()


@pytest.mark.e2e
def test_a_missing_client_certificate_file_ends_start_up_with_exit_2(tmp_path: Path) -> None:
    """twistd tcpchat --redis rediss://…?cert=MISSING: one line naming the file, exit 2."""
    missing = tmp_path / "missing.pem"
    done = run_twistd(tmp_path, foreground(
        "--db", "", "--listen", "tcp:0:interface=127.0.0.1",
        "--redis", f"rediss://localhost:6380?cert={missing}",
    ))
    assert done.returncode == 2
    assert f"--redis: 'rediss://localhost:6380?cert={missing}': cert '{missing}' is not a file" \
        in done.stdout + done.stderr
