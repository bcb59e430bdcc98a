"""Telnet command filtering for a line protocol that also serves telnet clients.

A telnet client may send IAC (0xFF) sequences: option negotiation,
subnegotiation, and commands such as Interrupt Process when the user
presses Ctrl-C. :class:`TelnetFilter` removes them from the byte stream
and produces the replies that keep the telnet client working: every
option is refused, except that a TIMING-MARK request (which telnet sends
after Ctrl-C and then waits for) is acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass

IAC = 0xFF
DONT = 0xFE
DO = 0xFD
WONT = 0xFC
WILL = 0xFB
SB = 0xFA
SE = 0xF0
IP = 0xF4
AO = 0xF5
AYT = 0xF6
TIMING_MARK = 0x06

_NEGOTIATION = frozenset((DO, DONT, WILL, WONT))


@dataclass(slots=True)
class Filtered:
    """What is left of a chunk once telnet commands are taken out."""

    data: bytes
    reply: bytes = b""
    interrupted: bool = False
    are_you_there: bool = False


@dataclass(slots=True)
class TelnetFilter:
    """Strips telnet commands from a byte stream, across chunk boundaries."""

    _state: str = "data"
    _verb: int = 0

    def feed(self, chunk: bytes) -> Filtered:
        """Filter one chunk; keeps state for a sequence split across chunks."""
        if self._state == "data" and IAC not in chunk:
            return Filtered(chunk)
        data = bytearray()
        reply = bytearray()
        result = Filtered(b"")
        state = self._state
        for byte in chunk:
            if state == "data":
                if byte == IAC:
                    state = "command"
                else:
                    data.append(byte)
            elif state == "command":
                state = self._command(byte, data, result)
            elif state == "option":
                reply += self._answer(self._verb, byte)
                state = "data"
            elif state == "subnegotiation":
                if byte == IAC:
                    state = "subnegotiation-iac"
            elif state == "subnegotiation-iac":
                state = "data" if byte == SE else "subnegotiation"
        self._state = state
        result.data = bytes(data)
        result.reply = bytes(reply)
        return result

    def _command(self, byte: int, data: bytearray, result: Filtered) -> str:
        if byte == IAC:
            # An escaped 0xFF data byte; it is not valid UTF-8 and will
            # decode as U+FFFD, like any other stray byte.
            data.append(IAC)
            return "data"
        if byte in _NEGOTIATION:
            self._verb = byte
            return "option"
        if byte == SB:
            return "subnegotiation"
        if byte in (IP, AO):
            # Like a terminal's Ctrl-C: what was typed so far on the line is dropped.
            data.clear()
            result.interrupted = True
        elif byte == AYT:
            result.are_you_there = True
        return "data"

    @staticmethod
    def _answer(verb: int, option: int) -> bytes:
        if verb == DO:
            agreed = WILL if option == TIMING_MARK else WONT
            return bytes((IAC, agreed, option))
        if verb == WILL:
            return bytes((IAC, DONT, option))
        return b""
