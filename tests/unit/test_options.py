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


def test_lease_reaches_the_config_and_a_tiny_one_is_refused() -> None:
    """--lease sets how long a node's heartbeat lasts; under half a second is refused."""
    assert parse("--lease", "2.5")["config"].lease == 2.5
    with pytest.raises(usage.UsageError, match="--lease"):
        parse("--lease", "0.1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-line", "-5"], "--max-line takes a whole number"),
        (["--max-clients", "lots"], "--max-clients takes a whole number"),
        (["--handshake-timeout", "nan"], "--handshake-timeout takes a number"),
        (["--flood", "-1"], "--flood takes a number"),
        (["--listen", "carrier-pigeon:1"], "Unknown endpoint type"),
        (["--listen", "tcp:notaport"], "--listen 'tcp:notaport': port 'notaport' is not a number"),
        (["--listen", "unix:/no/such/folder/chat.sock"], "folder /no/such/folder does not exist"),
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


def motd_file(tmp_path: Path, sent_bytes: int) -> str:
    """A MOTD file whose lines, as the server sends them, take ``sent_bytes`` bytes."""
    line = "m" * 94  # "*** " + 94 letters + CRLF: 100 bytes on the wire
    assert sent_bytes % 100 == 0
    path = tmp_path / "motd.txt"
    path.write_text("\n".join([line] * (sent_bytes // 100)) + "\n")
    return str(path)


def test_motd_larger_than_half_the_send_queue_is_refused(tmp_path: Path) -> None:
    """A MOTD that would fill the send queue at connect is refused, with both sizes."""
    motd = motd_file(tmp_path, 2100)
    with pytest.raises(usage.UsageError) as raised:
        parse("--sendq", "4096", "--motd", motd)
    assert str(raised.value) == (
        f"--motd {motd!r}: 2100 bytes as sent, more than half of --sendq (4096 bytes); "
        "shorten it or raise --sendq"
    )


def test_motd_up_to_half_the_send_queue_is_accepted(tmp_path: Path) -> None:
    """A MOTD of exactly half the send queue, as sent, is accepted."""
    config = parse("--sendq", "4000", "--motd", motd_file(tmp_path, 2000))["config"]
    assert len(config.motd) == 20


def test_the_collector_threshold_is_an_option_applied_when_the_server_runs() -> None:
    """--gc-threshold reaches the config; the server sets it (0 keeps Python's own)."""
    import gc

    from chat.service import tune_collector

    assert parse()["config"].gc_threshold == 10_000
    assert parse("--gc-threshold", "0")["config"].gc_threshold == 0
    saved = gc.get_threshold()
    try:
        tune_collector(parse("--gc-threshold", "12345")["config"].gc_threshold)
        assert gc.get_threshold() == (12345, *saved[1:])
        tune_collector(0)
        assert gc.get_threshold()[0] == 12345
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
