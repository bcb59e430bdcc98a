"""Telnet commands are consumed and answered so telnet keeps working."""

from __future__ import annotations

from chat.telnet import TelnetFilter


def test_plain_data_passes_through() -> None:
    """Input without IAC is returned unchanged."""
    assert TelnetFilter().feed(b"hello\r\n").data == b"hello\r\n"


def test_ctrl_c_is_acknowledged() -> None:
    """Interrupt Process drops the typed text; TIMING-MARK is answered WILL."""
    result = TelnetFilter().feed(b"abc\xff\xf4\xff\xfd\x06")
    assert result.data == b""
    assert result.interrupted
    assert result.reply == b"\xff\xfb\x06"


def test_options_are_refused() -> None:
    """Requests to enable options are declined, so no mode changes."""
    result = TelnetFilter().feed(b"\xff\xfd\x01\xff\xfb\x1f")
    assert result.reply == b"\xff\xfc\x01\xff\xfe\x1f"
    assert result.data == b""


def test_refusals_are_not_answered() -> None:
    """WONT and DONT get no reply, so negotiation cannot loop."""
    assert TelnetFilter().feed(b"\xff\xfc\x01\xff\xfe\x01").reply == b""


def test_subnegotiation_is_consumed() -> None:
    """Subnegotiation bytes never reach the text."""
    assert TelnetFilter().feed(b"a\xff\xfa\x18\x00xterm\xff\xf0b").data == b"ab"


def test_sequence_split_across_chunks() -> None:
    """A command cut in two by the network is still consumed whole."""
    telnet = TelnetFilter()
    first = telnet.feed(b"hi\xff")
    second = telnet.feed(b"\xfd\x06there")
    assert first.data + second.data == b"hithere"
    assert second.reply == b"\xff\xfb\x06"


def test_escaped_iac_is_data() -> None:
    """IAC IAC stands for one 0xFF data byte."""
    assert TelnetFilter().feed(b"\xff\xffx").data == b"\xffx"


def test_are_you_there() -> None:
    """AYT is noticed so the server can answer it."""
    assert TelnetFilter().feed(b"\xff\xf6").are_you_there
