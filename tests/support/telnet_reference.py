"""A byte-at-a-time model of what the telnet filter must do, to check the fast one against.

It follows the rules of :mod:`chat.telnet` as plainly as possible and keeps
the whole text: an interrupt cuts the text after its last LF, as the
protocol does with the unfinished line it holds. ``follow`` applies the
results of the real filter, chunk by chunk, in the same way, so that the
two can be compared whatever the chunk boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.telnet import Filtered

IAC, DONT, DO, WONT, WILL, SB, SE = 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF0
AYT, BINARY, TIMING_MARK = 0xF6, 0x00, 0x06
TYPED_AS = {0xF4: 0x83, 0xF3: 0x9C, 0xEE: 0x9C, 0xED: 0x9A, 0xF5: 0x8F, 0xEC: 0x84, 0xF8: 0x95}
INTERRUPTS = (0xF4, 0xF5)


def cut_unfinished_line(text: bytearray) -> None:
    del text[text.rfind(b"\n") + 1 :]


def follow(results: list[Filtered]) -> tuple[bytes, bytes, bool]:
    """Text, replies and whether AYT came, as the protocol makes of the filter's results."""
    text, reply, are_you_there = bytearray(), bytearray(), False
    for result in results:
        if result.interrupted:
            cut_unfinished_line(text)
        text += result.data
        reply += result.reply
        are_you_there |= result.are_you_there
    return bytes(text), bytes(reply), are_you_there


def missing_continuations(text: bytes | bytearray) -> int:
    trailing = 0
    for byte in reversed(text):
        if 0x80 <= byte <= 0xBF:
            trailing += 1
            continue
        need = 1 if 0xC2 <= byte <= 0xDF else 2 if 0xE0 <= byte <= 0xEF else (
            3 if 0xF0 <= byte <= 0xF4 else 0)
        return max(need - trailing, 0)
    return 0


@dataclass
class ReferenceFilter:
    """The rules, one byte at a time, on the whole stream."""

    text: bytearray = field(default_factory=bytearray)
    reply: bytearray = field(default_factory=bytearray)
    are_you_there: bool = False
    state: str = "data"
    verb: int = 0
    binary: str = "unasked"
    held: list[int] = field(default_factory=list)

    def feed(self, stream: bytes) -> tuple[bytes, bytes, bool]:
        for byte in stream:
            self.step(byte)
        return bytes(self.text), bytes(self.reply), self.are_you_there

    def step(self, byte: int) -> None:
        if self.state == "data":
            if byte == IAC:
                self.state = "command"
            else:
                self.add_text(byte)
        elif self.state == "command":
            self.state = "data"
            if byte == IAC:
                self.add_text(IAC)
                return
            if self.binary == "unasked":
                self.binary = "asked"
                self.reply += bytes((IAC, DO, BINARY))
            if byte in (DO, DONT, WILL, WONT):
                self.verb, self.state = byte, "option"
            elif byte == SB:
                self.state = "subnegotiation"
            elif byte in TYPED_AS and self.binary != "on" and self.may_stand_for_a_byte():
                self.held.append(byte)
                if missing_continuations(self.text + bytes(TYPED_AS[c] for c in self.held)) == 0:
                    self.restore()
            elif byte in INTERRUPTS:
                cut_unfinished_line(self.text)
            elif byte == AYT:
                self.are_you_there = True
        elif self.state == "option":
            self.state = "data"
            self.answer(self.verb, byte)
        elif self.state == "subnegotiation":
            if byte == IAC:
                self.state = "subnegotiation-iac"
        else:
            self.state = "data" if byte == SE else "subnegotiation"

    def may_stand_for_a_byte(self) -> bool:
        return missing_continuations(self.text + bytes(TYPED_AS[c] for c in self.held)) > 0

    def restore(self) -> None:
        self.text += bytes(TYPED_AS[command] for command in self.held)
        self.held.clear()

    def add_text(self, byte: int) -> None:
        if self.held:
            if 0x80 <= byte <= 0xBF:
                self.restore()
            else:
                if any(command in INTERRUPTS for command in self.held):
                    cut_unfinished_line(self.text)
                self.held.clear()
        self.text.append(byte)

    def answer(self, verb: int, option: int) -> None:
        if option == BINARY and verb == WILL:
            if self.binary in ("unasked", "off"):
                self.reply += bytes((IAC, DO, BINARY))
            self.binary = "on"
        elif option == BINARY and verb == WONT:
            if self.binary == "on":
                self.reply += bytes((IAC, DONT, BINARY))
            self.binary = "off"
        elif verb == DO:
            self.reply += bytes((IAC, WILL if option == TIMING_MARK else WONT, option))
        elif verb == WILL:
            self.reply += bytes((IAC, DONT, option))
