"""Options of twistd tcpchat: defaults, checks and the config they build."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.python import usage

from chat.config import DEFAULT_LISTEN, ServerConfig
from chat.options import Options


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


def test_defaults_listen_on_loopback_55555() -> None:
    """With no options the server listens where the original did."""
    options = parse()
    assert options["listen"] == [DEFAULT_LISTEN]
    assert options["config"] == ServerConfig()


def test_listen_is_repeatable() -> None:
    """Several --listen options give several endpoints."""
    options = parse("--listen", "tcp:1234", "--listen", "unix:/tmp/x.sock")
    assert options["listen"] == ["tcp:1234", "unix:/tmp/x.sock"]


def test_limits_reach_the_config() -> None:
    """Each limit option sets its field."""
    config = parse("--max-line", "100", "--flood", "0", "--max-per-ip", "0",
                   "--history", "5", "--crowd", "0")["config"]
    assert (config.max_line, config.flood_rate, config.max_per_ip) == (100, 0.0, 0)
    assert (config.history, config.crowd) == (5, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-line", "-5"], "--max-line takes a whole number"),
        (["--max-clients", "lots"], "--max-clients takes a whole number"),
        (["--handshake-timeout", "nan"], "--handshake-timeout takes a number"),
        (["--flood", "-1"], "--flood takes a number"),
        (["--listen", "carrier-pigeon:1"], "Unknown endpoint type"),
        (["--motd", "/no/such/file"], "No such file"),
        (["--db", "/no/such/folder/chat.db"], "does not exist"),
    ],
)
def test_bad_values_are_refused_with_a_reason(args: list[str], message: str) -> None:
    """A wrong value is a usage error that says what is wrong."""
    with pytest.raises(usage.UsageError, match=message):
        parse(*args)


def test_motd_lines_are_read_and_cleaned(tmp_path: Path) -> None:
    """The message of the day is read from the file, without control sequences."""
    motd = tmp_path / "motd.txt"
    motd.write_text("Hello\n\x1b[31mBe nice\x1b[0m\n")
    assert parse("--motd", str(motd))["config"].motd == ("Hello", "Be nice")


def test_empty_db_keeps_history_in_memory_only() -> None:
    """--db '' is accepted: no database file, history lives in memory."""
    assert parse("--db", "")["config"].db == ""
