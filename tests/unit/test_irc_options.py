"""Options of the IRC listener: --irc endpoints, --irc-name and the ping times."""

from __future__ import annotations

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage

from chat.config import DEFAULT_IRC_NAME, ServerConfig
from chat.irc import IRCFactory
from chat.listener import Listener
from chat.options import Options
from chat.service import make_service


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


def test_irc_is_off_by_default() -> None:
    """Without --irc nothing serves IRC; the server name has its documented default."""
    options = parse()
    assert options["irc"] == []
    assert options["config"].irc_name == DEFAULT_IRC_NAME == "tcpchat.local"


def test_irc_is_repeatable_with_any_endpoint() -> None:
    options = parse("--irc", "tcp:6667:interface=127.0.0.1", "--irc", "tcp6:6668")
    assert options["irc"] == ["tcp:6667:interface=127.0.0.1", "tcp6:6668"]


def test_a_bad_irc_endpoint_is_refused_naming_the_option() -> None:
    with pytest.raises(usage.UsageError, match=r"--irc 'tcp:99999': port 99999"):
        parse("--irc", "tcp:99999")


@pytest.mark.parametrize(
    "name", ["tcpchat", "has space.org", "-bad.org", "a..b", "x" * 60 + ".org"]
)
def test_an_irc_name_that_is_no_host_name_is_refused(name: str) -> None:
    with pytest.raises(usage.UsageError, match="--irc-name"):
        parse("--irc-name", name)


def test_irc_name_and_ping_times_reach_the_config() -> None:
    config = parse("--irc-name", "chat.example.org", "--irc-ping", "30",
                   "--irc-ping-timeout", "10")["config"]
    assert (config.irc_name, config.irc_ping, config.irc_ping_timeout) == (
        "chat.example.org", 30.0, 10.0,
    )


def test_make_service_has_an_irc_listener_per_endpoint_on_the_same_server() -> None:
    """Each --irc endpoint is a Listener of one IRCFactory, with the line listener's backlog,
    on the ChatServer the line factory uses (so --max-clients counts both)."""
    top = make_service(MemoryReactorClock(), ["tcp:0"], ServerConfig(db="", backlog=77),
                       irc=["tcp:0", "tcp:1"])
    listeners = [service for service in top if isinstance(service, Listener)]
    assert len(listeners) == 3
    line, *irc = listeners
    assert all(isinstance(listener.factory, IRCFactory) for listener in irc)
    assert all(listener.backlog == 77 for listener in listeners)
    assert irc[0].factory.server is irc[1].factory.server is line.factory.server  # type: ignore[attr-defined]
