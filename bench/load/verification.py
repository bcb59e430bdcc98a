"""What the senders send and what every receiver must get, and the check of both.

Each message's text is ``m<sender>.<seq>.`` padded with a letter that depends
on both, so a receiver's stream can be split into lines after the clock stops
and compared, sender by sender, with the exact list that sender sent: lost,
duplicated, reordered and garbled lines are all counted. ``self_check`` shows
the verifier catching each kind of fault (``--self-check``).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, fields

from bench.load.dialect import CHANNEL, as_message, count_deliveries

MIN_TEXT = 14
"""The shortest message text: ``m<sender>.<seq>.`` and one letter of padding."""


def text_for(sender: int, seq: int, size: int) -> bytes:
    """The text of message ``seq`` of sender number ``sender``, ``size`` bytes long."""
    head = b"m%03d.%07d." % (sender, seq)
    return head + bytes([97 + (sender + seq) % 26]) * (size - len(head))


def expected_lines(nick: bytes, sender: int, count: int, size: int) -> list[bytes]:
    """The lines (without CRLF) a receiver must get from this sender, in order."""
    prefix = b"<" + nick + b"> "
    return [prefix + text_for(sender, seq, size) for seq in range(count)]


@dataclass
class Counts:
    """Verification of what receivers got; everything but ``notices`` must be 0."""

    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    garbled: int = 0
    incomplete: int = 0
    disconnected: int = 0
    notices: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def errors(self) -> int:
        return (
            self.lost
            + self.duplicated
            + self.reordered
            + self.garbled
            + self.incomplete
            + self.disconnected
        )

    def summary(self) -> str:
        return (
            f"lost {self.lost}, duplicated {self.duplicated}, reordered {self.reordered}, "
            f"garbled {self.garbled}; receivers incomplete {self.incomplete}, "
            f"disconnected by the server {self.disconnected}"
        )


def _diagnose(got: list[bytes], want: list[bytes], counts: Counts) -> None:
    """Classify the difference between one sender's expected and received lines."""
    index = {line: seq for seq, line in enumerate(want)}
    seqs: list[int] = []
    for line in got:
        seq = index.get(line)
        if seq is None:
            counts.garbled += 1
        else:
            seqs.append(seq)
    unique = set(seqs)
    counts.duplicated += len(seqs) - len(unique)
    counts.lost += len(want) - len(unique)
    seen: set[int] = set()
    high = -1
    for seq in seqs:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < high:
            counts.reordered += 1
        else:
            high = seq


def verify_stream(
    chunks: Sequence[bytes],
    times: Sequence[float] | None,
    expected: dict[bytes, list[bytes]],
    send_times: dict[bytes, float] | None,
    latencies: array[float] | None,
    dialect: str = "line",
) -> Counts:
    """Verify one receiver's byte stream against what each sender sent.

    ``expected`` maps a nickname to the lines it sent, in order. ``***``
    notices are counted and ignored; any other line is either an expected
    message or garbled. With ``times`` (one per chunk) and ``send_times``
    the latency of every message line is appended to ``latencies``. In the
    ``irc`` dialect each channel ``PRIVMSG`` is read as ``<nick> text`` and
    every other IRC line is a notice.
    """
    counts = Counts()
    groups: dict[bytes, list[bytes]] = {nick: [] for nick in expected}
    carry = b""
    for i, chunk in enumerate(chunks):
        buf = carry + chunk if carry else chunk
        lines = buf.split(b"\r\n")
        carry = lines.pop()
        now = times[i] if times is not None else 0.0
        for line in lines:
            if dialect == "irc":
                message = as_message(line)
                if message is None:
                    counts.notices += 1
                    continue
                line = message
            if line[:1] == b"<":
                group = groups.get(line[1 : line.find(b"> ")])
                if group is None:
                    counts.garbled += 1
                    continue
                group.append(line)
                if send_times is not None and latencies is not None:
                    sent = send_times.get(line)
                    if sent is not None:
                        latencies.append(now - sent)
            elif line[:4] == b"*** ":
                counts.notices += 1
            else:
                counts.garbled += 1
    if carry:
        counts.garbled += 1
    for nick, want in expected.items():
        got = groups[nick]
        if got != want:
            _diagnose(got, want, counts)
    return counts


def self_check() -> None:
    """Show that the verifier catches each kind of fault (``--self-check``)."""
    size = 20
    expected = {b"s%d" % s: expected_lines(b"s%d" % s, s, 50, size) for s in range(3)}
    lines = [line for seq in range(50) for line in (v[seq] for v in expected.values())]

    def check(name: str, stream: list[bytes], **want: int) -> None:
        for dialect in ("line", "irc"):
            notice = b"*** bob has joined" if dialect == "line" else b":bob!b@h JOIN " + CHANNEL
            data = b"".join(_wire(line, dialect) + b"\r\n" for line in stream)
            data += notice + b"\r\n"
            chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
            got = verify_stream(chunks, None, expected, None, None, dialect)
            wrong = {k: getattr(got, k) for k in want if getattr(got, k) != want[k]}
            others = got.errors() - sum(want.values())
            status = "ok" if not wrong and others == 0 and got.notices == 1 else f"WRONG {got}"
            if dialect == "irc" and status == "ok":
                status = _check_counting(chunks, len(stream))
            print(f"self-check {name} ({dialect}): {got.summary()} -> {status}")
            if status != "ok":
                raise SystemExit(1)

    check("intact", lines)
    check("lost", lines[:10] + lines[11:], lost=1)
    check("duplicated", lines[:10] + lines[9:], duplicated=1)
    check("reordered", [*lines[:10], lines[13], *lines[10:13], *lines[14:]], reordered=1)
    bad = lines[20].replace(b"m", b"M", 1)
    check("garbled", [*lines[:20], bad, *lines[21:]], garbled=1, lost=1)
    check("unknown", [*lines, b"<mallory> hi"], garbled=1)
    check("unframed", [*lines[:5], lines[5] + lines[6], *lines[7:]], garbled=1, lost=2)


def _wire(line: bytes, dialect: str) -> bytes:
    """A ``<nick> text`` line as the server of ``dialect`` sends it."""
    if dialect == "line" or line[:1] != b"<":
        return line
    nick, _, text = line[1:].partition(b"> ")
    return b":" + nick + b"!~" + nick + b"@127.0.0.1 PRIVMSG " + CHANNEL + b" :" + text


def _check_counting(chunks: list[bytes], lines: int) -> str:
    """The timed phase's IRC count, fed the same small reads, finds every PRIVMSG once."""
    found, tail = 0, b""
    for chunk in chunks:
        more, tail = count_deliveries(chunk, tail)
        found += more
    return "ok" if found == lines else f"WRONG: counted {found} deliveries of {lines}"
