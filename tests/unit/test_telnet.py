"""Telnet commands are consumed and answered so telnet keeps working, and its UTF-8 arrives."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.telnet import Filtered, TelnetFilter
from tests.support.telnet_reference import ReferenceFilter, follow

DO_BINARY = b"\xff\xfd\x00"
WILL_BINARY = b"\xff\xfb\x00"
WONT_BINARY = b"\xff\xfc\x00"
IAC_IP = b"\xff\xf4"
DO_TIMING_MARK = b"\xff\xfd\x06"
WILL_TIMING_MARK = b"\xff\xfb\x06"

# What inetutils telnet 2.4 (Debian's `telnet`) sent, recorded on loopback,
# for a user typing テ本語 then Enter: the 0x83 of テ became Interrupt Process
# and the 0x9C of 本 Break, each followed by DO TIMING-MARK.
TYPED_TE_HON_GO = b"\xe3\xff\xf4\xff\xfd\x06\x86\xe6\xff\xf3\xff\xfd\x06\xac\xe8\xaa\x9e\r\n"
# The same user typing テ本 in a session that arrived in three TCP segments.
TYPED_TE_HON_IN_SEGMENTS = [b"\xe3\xff\xf4\xff\xfd\x06", b"\x86\xe6\xff\xf3\xff\xfd\x06",
                            b"\xac\r\n"]


def fed(*chunks: bytes) -> list[Filtered]:
    telnet = TelnetFilter()
    return [telnet.feed(chunk) for chunk in chunks]


def test_plain_data_passes_through() -> None:
    """Input without IAC is returned unchanged."""
    assert TelnetFilter().feed(b"hello\r\n").data == b"hello\r\n"


def test_a_peer_that_never_sends_iac_is_never_sent_a_telnet_byte() -> None:
    """nc users typing any bytes but 0xFF, UTF-8 included, get no reply at all."""
    telnet = TelnetFilter()
    for chunk in (bytes(range(0xFF)), "テ本語 中文\n".encode(), b"\x83\x9c\n"):
        result = telnet.feed(chunk)
        assert (result.data, result.reply) == (chunk, b"")


def test_ctrl_c_is_acknowledged() -> None:
    """Interrupt Process drops the typed text; TIMING-MARK is answered WILL."""
    result = TelnetFilter().feed(b"abc\xff\xf4\xff\xfd\x06")
    assert result.data == b""
    assert result.interrupted
    assert result.reply == DO_BINARY + WILL_TIMING_MARK


def test_options_are_refused() -> None:
    """Requests to enable options are declined, so no mode changes."""
    result = TelnetFilter().feed(b"\xff\xfd\x01\xff\xfb\x1f")
    assert result.reply == DO_BINARY + b"\xff\xfc\x01\xff\xfe\x1f"
    assert result.data == b""


def test_refusals_are_not_answered() -> None:
    """WONT and DONT get no reply, so negotiation cannot loop."""
    assert TelnetFilter().feed(b"\xff\xfc\x01\xff\xfe\x01").reply == DO_BINARY


def test_subnegotiation_is_consumed() -> None:
    """Subnegotiation bytes never reach the text."""
    assert TelnetFilter().feed(b"a\xff\xfa\x18\x00xterm\xff\xf0b").data == b"ab"


def test_sequence_split_across_chunks() -> None:
    """A command cut in two by the network is still consumed whole."""
    first, second = fed(b"hi\xff", b"\xfd\x06there")
    assert first.data + second.data == b"hithere"
    assert second.reply == DO_BINARY + WILL_TIMING_MARK


def test_escaped_iac_is_data() -> None:
    """IAC IAC stands for one 0xFF data byte."""
    assert TelnetFilter().feed(b"\xff\xffx").data == b"\xffx"


def test_are_you_there() -> None:
    """AYT is noticed so the server can answer it."""
    assert TelnetFilter().feed(b"\xff\xf6").are_you_there


# BINARY: once the peer has shown it speaks telnet, it is asked to send 8-bit data as it is.


def test_the_first_telnet_command_asks_the_peer_for_binary_once() -> None:
    """IAC DO BINARY goes out with the answer to the peer's first command, and only then."""
    first, second = fed(b"x\xff\xf6", b"\xff\xf6\xff\xfd\x06")
    assert first.reply == DO_BINARY
    assert second.reply == WILL_TIMING_MARK


def test_an_escaped_0xff_is_no_sign_of_telnet() -> None:
    """IAC IAC is a data byte an nc user may send: it gets no telnet reply."""
    assert TelnetFilter().feed(b"\xff\xff\n").reply == b""


def test_the_peer_agreeing_to_binary_is_not_answered() -> None:
    """WILL BINARY after our DO BINARY is its answer: no reply, or negotiation would loop."""
    _, agreed = fed(b"\xff\xf6", WILL_BINARY)
    assert agreed.reply == b""


def test_the_peer_offering_binary_first_is_accepted_once() -> None:
    """A peer opening with WILL BINARY gets one DO BINARY."""
    assert fed(WILL_BINARY + WILL_BINARY)[0].reply == DO_BINARY


def test_the_peer_leaving_binary_is_acknowledged() -> None:
    """WONT BINARY once BINARY is on is answered DONT BINARY; a refusal gets no answer."""
    *_, left = fed(b"\xff\xf6", WILL_BINARY, WONT_BINARY)
    assert left.reply == b"\xff\xfe\x00"
    _, refused = fed(b"\xff\xf6", WONT_BINARY)
    assert refused.reply == b""


def test_binary_output_is_refused() -> None:
    """DO BINARY from the peer is refused: telnet keeps turning our CRLF into new lines."""
    assert fed(b"\xff\xf6", b"\xff\xfd\x00")[1].reply == WONT_BINARY


# Bytes that telnet, before BINARY, sent as commands in the middle of a UTF-8 character.


def test_japanese_typed_in_telnet_before_binary_arrives_intact() -> None:
    """テ本語 as telnet sent it: the IP and BRK inside characters are the bytes 0x83 and 0x9C."""
    result = TelnetFilter().feed(TYPED_TE_HON_GO)
    assert result.data == "テ本語\r\n".encode()
    assert not result.interrupted
    assert result.reply == DO_BINARY + WILL_TIMING_MARK + WILL_TIMING_MARK


def test_japanese_split_by_the_network_arrives_intact() -> None:
    """The byte behind a command is restored when the rest of the character is in a later chunk."""
    results = fed(*TYPED_TE_HON_IN_SEGMENTS)
    assert b"".join(result.data for result in results) == "テ本\r\n".encode()
    assert not any(result.interrupted for result in results)


@pytest.mark.parametrize(("character", "command"), [
    ("テ", b"\xff\xf4"),  # 0x83: ^C, Interrupt Process
    ("本", b"\xff\xf3"),  # 0x9C: ^\, Break in telnet's line mode
    ("本", b"\xff\xee"),  # 0x9C: ^\, Abort otherwise
    ("〚", b"\xff\xed"),  # 0x9A: ^Z, Suspend
    ("』", b"\xff\xf5"),  # 0x8F: ^O, Abort Output
    ("〄", b"\xff\xec"),  # 0x84: ^D, End of File in LINEMODE
    ("さ", b"\xff\xf8"),  # 0x95: ^U, Erase Line
])
def test_each_command_telnet_puts_for_a_byte_is_restored(character: str, command: bytes) -> None:
    """The byte a command stands for, in the middle or at the end of a character, is put back."""
    encoded = character.encode()
    typed = {0xF4: 0x83, 0xF3: 0x9C, 0xEE: 0x9C, 0xED: 0x9A, 0xF5: 0x8F, 0xEC: 0x84,
             0xF8: 0x95}[command[1]]
    mangled = encoded.replace(bytes((typed,)), command)
    assert TelnetFilter().feed(b"<" + mangled + b">\n").data == b"<" + encoded + b">\n"


def test_a_character_made_of_two_replaced_bytes_is_restored() -> None:
    """ッ is E3 83 83: both 0x83 come as IP + DO TIMING-MARK."""
    sent = b"\xe3" + (IAC_IP + DO_TIMING_MARK) * 2 + b"\n"
    assert TelnetFilter().feed(sent).data == "ッ\n".encode()


def test_ctrl_c_after_a_broken_character_is_still_an_interrupt() -> None:
    """A Latin-1 é (a UTF-8 lead byte) then Ctrl-C, then a new line: the interrupt holds."""
    before, after = fed(b"caf\xe9" + IAC_IP + DO_TIMING_MARK, b"new\n")
    assert before.data == b"caf\xe9"
    assert after.interrupted
    assert after.data == b"new\n"


def test_a_command_after_a_finished_chunk_of_ascii_is_no_byte_of_an_older_character() -> None:
    """Text ending in ASCII ends whatever character an earlier chunk left unfinished."""
    *_, result = fed(b"\xe3", b"abc", IAC_IP + b"\x86\n")
    assert result.interrupted
    assert result.data == b"\x86\n"


def test_a_command_after_an_interrupt_is_no_byte_of_the_dropped_text() -> None:
    """The unfinished character an interrupt dropped cannot make a later IP look like its byte."""
    _, result = fed(b"\xff\xf6" + WILL_BINARY + b"\xe3", IAC_IP + WONT_BINARY + IAC_IP + b"\x86\n")
    assert result.interrupted
    assert result.data == b"\x86\n"


def test_in_binary_mode_ctrl_c_is_an_interrupt_whatever_came_before() -> None:
    """Once the peer sends 8-bit data as it is, IP is only ever Ctrl-C."""
    *_, result = fed(b"\xff\xf6", WILL_BINARY, b"\xe3" + IAC_IP + b"\x86\n")
    assert result.interrupted
    assert result.data == b"\x86\n"


# Interrupt Process drops only the unfinished line.


def test_interrupt_after_complete_lines_keeps_them() -> None:
    """``line1\\nline2\\n`` then IP in one chunk: both lines are passed on."""
    result = TelnetFilter().feed(b"line1\nline2\n" + IAC_IP)
    assert result.data == b"line1\nline2\n"
    assert not result.interrupted


def test_interrupt_drops_what_follows_the_last_complete_line() -> None:
    """The half line after the last LF is dropped inside the chunk; what follows the IP stays."""
    result = TelnetFilter().feed(b"line1\nhalf" + IAC_IP + b"next\n")
    assert result.data == b"line1\nnext\n"
    assert not result.interrupted


def test_interrupt_before_any_line_end_drops_the_line_held_from_before() -> None:
    """IP before any LF of the chunk tells the protocol to drop the unfinished line it holds."""
    _, result = fed(b"half typ", b"ed" + IAC_IP + b"new\nmore\n")
    assert result.interrupted
    assert result.data == b"new\nmore\n"


# The fast filter against the byte-at-a-time model.

TEXT = st.sampled_from([
    b"a", b"hi ", b"\n", b"\r\n", "é".encode(), "日本語".encode(), b"\xe3", b"\x83", b"\x86",
    b"\x9c", b"\xbf", b"\xe9", b"\xf0\x9f", b"\x98\x80",
])
COMMANDS = st.sampled_from([
    b"\xff\xf4", b"\xff\xf3", b"\xff\xee", b"\xff\xed", b"\xff\xf5", b"\xff\xec", b"\xff\xf8",
    b"\xff\xf6", b"\xff\xff", b"\xff\xf1", b"\xff", DO_TIMING_MARK, WILL_BINARY, WONT_BINARY,
    b"\xff\xfd\x00", b"\xff\xfe\x00", b"\xff\xfb\x01", b"\xff\xfd\x03", b"\xff\xfa\x18\x01xterm",
    b"\xff\xf0", b"\xff\xfa\xff\xff\xff\xf0",
])


def telnet_typed(text: bytes) -> bytes:
    """What telnet sends for ``text`` before BINARY: special bytes become commands."""
    for byte, command in ((0x83, IAC_IP + DO_TIMING_MARK), (0x9C, b"\xff\xf3" + DO_TIMING_MARK),
                          (0x9A, b"\xff\xed"), (0x8F, b"\xff\xf5" + DO_TIMING_MARK)):
        text = text.replace(bytes((byte,)), command)
    return text


TYPED = st.text(alphabet="ab\nテスト本中文ッヿ〚』é😀", max_size=8).map(
    lambda text: telnet_typed(text.encode()))
STREAMS = st.lists(st.one_of(TEXT, COMMANDS, TYPED, st.binary(max_size=6)), max_size=25).map(
    b"".join)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(stream=STREAMS, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_the_filter_agrees_with_the_byte_at_a_time_model(stream: bytes, cuts: list[int]) -> None:
    """Text, replies and AYTs are those of the model, wherever the stream is cut into chunks."""
    bounds = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    chunks = [stream[start:end] for start, end in itertools.pairwise(bounds)]
    assert follow(fed(*chunks)) == ReferenceFilter().feed(stream)


@given(text=st.text(max_size=40))
def test_anything_typed_in_telnet_before_binary_arrives_as_typed(text: str) -> None:
    """Any text whose special bytes telnet turned into commands is restored exactly."""
    encoded = text.replace("\n", " ").encode()
    assert follow(fed(telnet_typed(encoded) + b"\n"))[0] == encoded + b"\n"
