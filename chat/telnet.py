"""Telnet command filtering for a line protocol that also serves telnet clients.

A telnet client may send IAC (0xFF) sequences: option negotiation,
subnegotiation, and commands such as Interrupt Process when the user
presses Ctrl-C. :class:`TelnetFilter` removes them from the byte stream
and produces the replies that keep the telnet client working: options are
refused, except that a TIMING-MARK request (which telnet sends after Ctrl-C
and then waits for) is acknowledged, that the client is asked to send
BINARY, and that while a password is typed the server offers ECHO
(:meth:`TelnetFilter.hide_input`), which makes telnet stop echoing.

Why BINARY: until it is agreed, telnet (inetutils, Debian's ``telnet``, as
netkit) takes the eighth bit off each typed byte before comparing it with
its special characters, so a UTF-8 continuation byte such as the 0x83 of
テ is sent as Interrupt Process (0x83 & 0x7F is ^C) and the 0x9C of 本 as
Break (^\\). Nothing may be sent to a peer that has not shown it speaks
telnet (an ``nc`` user would see it), so DO BINARY goes out with the reply
to the peer's first command. The commands that arrive before that, in the
middle of a UTF-8 character, are put back as the bytes they replaced. Two
bytes cannot be: telnet acts on 0x85 (^E, its echo toggle) and 0x9D (^],
its escape character) itself and sends nothing for them, until BINARY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IAC = 0xFF
DONT = 0xFE
DO = 0xFD
WONT = 0xFC
WILL = 0xFB
SB = 0xFA
EL = 0xF8
AYT = 0xF6
AO = 0xF5
IP = 0xF4
BRK = 0xF3
SE = 0xF0
ABORT = 0xEE
SUSP = 0xED
EOF = 0xEC
BINARY = 0x00
ECHO = 0x01
TIMING_MARK = 0x06

_IAC_BYTE = bytes((IAC,))
_WILL_ECHO = bytes((IAC, WILL, ECHO))
_WONT_ECHO = bytes((IAC, WONT, ECHO))
_DO_BINARY = bytes((IAC, DO, BINARY))
_DONT_BINARY = bytes((IAC, DONT, BINARY))
_NEGOTIATION = frozenset((DO, DONT, WILL, WONT))
_INTERRUPTS = frozenset((IP, AO))
# The byte telnet replaced by each command: the control character it took the
# byte for, under the default terminal settings, with the eighth bit put back.
_REPLACED_BYTE = {
    IP: 0x83,  # ^C intr
    BRK: 0x9C,  # ^\ quit, in telnet's line mode
    ABORT: 0x9C,  # ^\ quit, otherwise
    SUSP: 0x9A,  # ^Z susp
    AO: 0x8F,  # ^O discard
    EOF: 0x84,  # ^D eof, in LINEMODE
    EL: 0x95,  # ^U kill
}
_REPLACED_BYTES = bytes(_REPLACED_BYTE.get(command, command) for command in range(256))


def _agreement(verb: int, option: int) -> bytes:
    """Our answer to the peer's request: TIMING-MARK agreed, every other option refused.

    A refusal (WONT, DONT) is never answered, so negotiation cannot loop.
    """
    if verb == DO:
        return bytes((IAC, WILL if option == TIMING_MARK else WONT, option))
    if verb == WILL:
        return bytes((IAC, DONT, option))
    return b""


_ANSWERS = {verb: tuple(_agreement(verb, option) for option in range(256)) for verb in _NEGOTIATION}

# Parser states.
_DATA = 0
_COMMAND = 1
_OPTION = 2
_SUBNEGOTIATION = 3
_SUBNEGOTIATION_IAC = 4

# Where the peer's BINARY transmission stands.
_UNASKED = 0  # the peer has sent no telnet command yet: we say nothing
_ASKED = 1
_ON = 2
_OFF = 3


@dataclass(slots=True)
class Filtered:
    """What is left of a chunk once telnet commands are taken out.

    ``interrupted`` means that an Interrupt Process or Abort Output came
    before any LF of ``data``: the unfinished line held from earlier chunks
    is to be dropped. An interrupt after an LF of the chunk has already cut
    ``data`` back to that LF.
    """

    data: bytes
    reply: bytes = b""
    interrupted: bool = False
    are_you_there: bool = False


@dataclass(slots=True)
class _Chunk:
    """The output of one :meth:`TelnetFilter.feed` while it is being built."""

    pieces: list[bytes] = field(default_factory=list)
    reply: bytearray = field(default_factory=bytearray)
    interrupted: bool = False
    are_you_there: bool = False


def _missing_continuations(text: bytes) -> int:
    """How many continuation bytes the UTF-8 character at the end of ``text`` still lacks."""
    trailing = 0
    for byte in reversed(text):
        if 0x80 <= byte <= 0xBF:
            trailing += 1
            continue
        if 0xC2 <= byte <= 0xDF:
            needed = 1
        elif 0xE0 <= byte <= 0xEF:
            needed = 2
        elif 0xF0 <= byte <= 0xF4:
            needed = 3
        else:
            needed = 0
        return max(needed - trailing, 0)
    return 0


@dataclass(slots=True)
class TelnetFilter:
    """Strips telnet commands from a byte stream, across chunk boundaries."""

    _state: int = _DATA
    _verb: int = 0
    _binary: int = _UNASKED
    # The last bytes of text passed on, to tell whether a command came in
    # the middle of a UTF-8 character.
    _tail: bytes = b""
    # Commands that came in the middle of a character which needs more
    # bytes after them: the next text byte tells whether they replaced
    # bytes of it (a continuation byte) or were typed (anything else).
    _held: bytearray = field(default_factory=bytearray)
    _echo_offered: bool = False

    @property
    def speaks_telnet(self) -> bool:
        """Whether the peer has sent a telnet command: only then may it be sent one."""
        return self._binary != _UNASKED

    def hide_input(self) -> bytes:
        """What to send so that a telnet client stops showing what is typed (a
        password): WILL ECHO, the server echoes, which it then does not. Nothing for a
        peer that has not shown it speaks telnet."""
        if not self.speaks_telnet or self._echo_offered:
            return b""
        self._echo_offered = True
        return _WILL_ECHO

    def show_input(self) -> bytes:
        """What to send so that a telnet client shows what is typed again."""
        if not self._echo_offered:
            return b""
        self._echo_offered = False
        return _WONT_ECHO

    def feed(self, chunk: bytes) -> Filtered:
        """Filter one chunk; keeps state for a sequence split across chunks."""
        if self._state == _DATA and not self._held and IAC not in chunk:
            self._remember_end(chunk)
            return Filtered(chunk)
        out = _Chunk()
        position, end = 0, len(chunk)
        while position < end:
            state = self._state
            if state == _DATA:
                found = chunk.find(_IAC_BYTE, position)
                stop = end if found < 0 else found
                if stop > position:
                    self._text(chunk[position:stop], out)
                if found < 0:
                    break
                position = found + 1
                if position + 1 < end and chunk[position] in _NEGOTIATION:
                    # The usual case, a whole negotiation in this chunk, in one step
                    # (inline: a flood of them costs no more than it used to).
                    if self._binary == _UNASKED:
                        self._ask_for_binary(out.reply)
                    verb, option = chunk[position], chunk[position + 1]
                    if option in (BINARY, ECHO):
                        self._answer(verb, option, out.reply)
                    else:
                        out.reply += _ANSWERS[verb][option]
                    position += 2
                else:
                    self._state = _COMMAND
            elif state == _SUBNEGOTIATION:
                found = chunk.find(_IAC_BYTE, position)
                if found < 0:
                    break
                self._state = _SUBNEGOTIATION_IAC
                position = found + 1
            else:
                byte = chunk[position]
                position += 1
                if state == _COMMAND:
                    self._command(byte, out)
                elif state == _OPTION:
                    self._state = _DATA
                    self._answer(self._verb, byte, out.reply)
                else:
                    self._state = _DATA if byte == SE else _SUBNEGOTIATION
        data = out.pieces[0] if len(out.pieces) == 1 else b"".join(out.pieces)
        self._remember_end(data)
        return Filtered(data, bytes(out.reply), out.interrupted, out.are_you_there)

    def _remember_end(self, data: bytes) -> None:
        if data[-1:] >= b"\x80":
            self._tail = (self._tail + data[-3:])[-3:]
        elif data:
            self._tail = b""  # text ending in ASCII ends any character before it

    def _text(self, piece: bytes, out: _Chunk) -> None:
        if self._held:
            if 0x80 <= piece[0] <= 0xBF:
                self._restore(out)
            else:
                if any(command in _INTERRUPTS for command in self._held):
                    self._interrupt(out)
                self._held.clear()
        out.pieces.append(piece)

    def _command(self, byte: int, out: _Chunk) -> None:
        self._state = _DATA
        if byte == IAC:
            # An escaped 0xFF data byte; it is not valid UTF-8 and will
            # decode as U+FFFD, like any other stray byte.
            self._text(_IAC_BYTE, out)
            return
        self._ask_for_binary(out.reply)
        if byte in _NEGOTIATION:
            self._verb = byte
            self._state = _OPTION
        elif byte == SB:
            self._state = _SUBNEGOTIATION
        elif byte in _REPLACED_BYTE and self._binary != _ON and self._replaced_a_byte(byte, out):
            return
        elif byte in _INTERRUPTS:
            self._interrupt(out)
        elif byte == AYT:
            out.are_you_there = True

    def _ask_for_binary(self, reply: bytearray) -> None:
        """On the peer's first telnet command (IAC IAC is only a data byte), ask for BINARY."""
        if self._binary == _UNASKED:
            self._binary = _ASKED
            reply += _DO_BINARY

    def _replaced_a_byte(self, command: int, out: _Chunk) -> bool:
        """Whether ``command`` came where the character being typed needs a byte; keeps it if so."""
        missing = _missing_continuations(self._last_text(out) + self._held_bytes())
        if missing == 0:
            return False
        self._held.append(command)
        if missing == 1:
            self._restore(out)
        return True

    def _held_bytes(self) -> bytes:
        return bytes(self._held.translate(_REPLACED_BYTES))

    def _restore(self, out: _Chunk) -> None:
        out.pieces.append(self._held_bytes())
        self._held.clear()

    def _last_text(self, out: _Chunk) -> bytes:
        """The last three bytes of text so far, from this chunk and before it."""
        if out.pieces and len(out.pieces[-1]) >= 3:
            return out.pieces[-1][-3:]
        last = b""
        for piece in reversed(out.pieces):
            last = piece[-3:] + last
            if len(last) >= 3:
                return last[-3:]
        return (self._tail + last)[-3:]

    def _interrupt(self, out: _Chunk) -> None:
        """Like a terminal's Ctrl-C: what was typed so far on the line is dropped."""
        pieces = out.pieces
        for index in range(len(pieces) - 1, -1, -1):
            line_end = pieces[index].rfind(b"\n")
            if line_end >= 0:
                pieces[index] = pieces[index][: line_end + 1]
                del pieces[index + 1 :]
                return
        pieces.clear()
        out.interrupted = True
        self._tail = b""

    def _answer(self, verb: int, option: int, reply: bytearray) -> None:
        if option == BINARY and verb in (WILL, WONT):
            self._answer_binary(verb, reply)
        elif option == ECHO and verb in (DO, DONT) and self._echo_offered:
            # The answer to our own WILL ECHO (or to its end): nothing more to say.
            self._echo_offered = verb == DO
        else:
            reply += _ANSWERS[verb][option]

    def _answer_binary(self, verb: int, reply: bytearray) -> None:
        """The peer's BINARY transmission: welcome it, acknowledge its end, never loop."""
        if verb == WILL:
            if self._binary == _OFF:
                reply += _DO_BINARY
            self._binary = _ON
        else:
            if self._binary == _ON:
                reply += _DONT_BINARY
            self._binary = _OFF
