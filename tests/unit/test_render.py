"""The line renderer: every domain event and error as its line of the wire contract."""

from __future__ import annotations

import pytest

from chat.domain.errors import (
    AlreadyInRoomError,
    AlreadyNamedError,
    ChatError,
    InvalidRoomError,
    NicknameInvalidError,
    NicknameTakenError,
    NoSuchUserError,
    NotInRoomError,
    NotJoinedError,
)
from chat.domain.events import (
    Batch,
    ConnectionLost,
    CrowdJoined,
    CrowdLeft,
    Departure,
    Event,
    HistoryEnd,
    HistoryMissed,
    HistoryStart,
    Joined,
    Left,
    Message,
    Moved,
    NoHistory,
    Quit,
    Reconnected,
    Renamed,
    SendQueueExceeded,
    Sent,
    Welcome,
    WentTo,
)
from chat.line.render import RenderCache, describe_error, encode_batch, render, render_with_id
from chat.text import NicknameFault


@pytest.mark.parametrize(("event", "line"), [
    (Welcome("bob", "lobby", 0, 1),
     "*** Welcome, bob! You are the first in lobby; 1 online. Type /help for the commands."),
    (Welcome("bob", "lobby", 1, 2),
     "*** Welcome, bob! You are in lobby with 1 other; 2 online. Type /help for the commands."),
    (Welcome("bob", "dev", 3, 9),
     "*** Welcome, bob! You are in dev with 3 others; 9 online. Type /help for the commands."),
    (Joined("bob", "lobby"), "*** bob has joined"),
    (Left("bob", "lobby", ConnectionLost()), "*** bob has left (connection lost)"),
    (Left("bob", "lobby", Quit()), "*** bob has left (quit)"),
    (Left("bob", "lobby", Quit("bye all")), "*** bob has left (quit: bye all)"),
    (Left("bob", "lobby", WentTo("dev")), "*** bob has left (went to dev)"),
    (Left("bob", "lobby", SendQueueExceeded(4096)),
     "*** bob has left (send queue exceeded 4096 bytes)"),
    (Left("bob", "lobby", Reconnected()), "*** bob has left (reconnected)"),
    (Left("bob", "lobby", "server shut down"), "*** bob has left (server shut down)"),
    (Renamed("bob", "Bobby"), "*** bob is now known as Bobby"),
    (Moved("dev", 0), "*** you are now in dev with 0 others"),
    (Moved("dev", 1), "*** you are now in dev with 1 other"),
    (Moved("dev", 2), "*** you are now in dev with 2 others"),
    (CrowdJoined("lobby", ("a", "b")), "*** 2 users joined: a, b"),
    (CrowdJoined("lobby", tuple("abcdefg")), "*** 7 users joined: a, b, c, d, e and 2 more"),
    (CrowdLeft("lobby", (Departure("a", Quit()),)), "*** 1 user left: a (quit)"),
    (CrowdLeft("lobby", (Departure("a", ConnectionLost()), Departure("b", WentTo("dev")))),
     "*** 2 users left: a (connection lost), b (went to dev)"),
    (HistoryMissed("dev"), "*** older messages of dev are no longer kept"),
    (HistoryStart("dev", 1), "*** history of dev, last message:"),
    (HistoryStart("dev", 20), "*** history of dev, last 20 messages:"),
    (HistoryEnd("dev"), "*** end of history"),
    (NoHistory("dev"), "*** dev has no history yet"),
])
def test_each_event_has_the_line_of_the_contract(event: Event, line: str) -> None:
    """Domain facts become exactly the ``***`` lines the protocol has always had."""
    assert render(event) == line


@pytest.mark.parametrize(("error", "line"), [
    (NicknameTakenError("Bob"), 'nickname "Bob" is taken'),
    (NicknameInvalidError("a b", NicknameFault.SPACES),
     'nickname "a b" is invalid: nicknames cannot contain spaces; '
     "use 1 to 20 letters, digits, _ or -"),
    (NicknameInvalidError("x" * 21, NicknameFault.TOO_LONG),
     "nickname is 21 characters long; at most 20 are allowed"),
    (AlreadyNamedError("bob"), "you are already bob"),
    (NoSuchUserError("gh\x1bost"), 'no user is called "gh\\x1bost"'),
    (InvalidRoomError("\x1b[2Jx"),
     'room name "\\x1b[2Jx" is invalid: use 1 to 32 letters, digits, _ or -'),
    (AlreadyInRoomError("dev"), "you are already in dev"),
    (NotInRoomError(), "you are not in a room"),
    (NotInRoomError("dev"), "you are not in dev"),
    (NotJoinedError(), "choose a nickname first"),
])
def test_each_error_has_the_line_of_the_contract(error: ChatError, line: str) -> None:
    """Typed refusals become the ``!!!`` texts of the protocol, controls shown escaped."""
    assert describe_error(error) == line


def test_errors_compare_by_their_fields() -> None:
    """Two refusals of the same kind about the same thing are equal."""
    assert NicknameTakenError("bob") == NicknameTakenError("bob")
    assert NicknameTakenError("bob") != NicknameTakenError("eve")
    assert NicknameTakenError("bob") != NoSuchUserError("bob")


def test_an_acknowledgement_is_only_for_programs_that_asked_for_ids() -> None:
    """Sent renders as nothing, and as @id=N with ids on."""
    assert render(Sent(7)) == ""
    assert render_with_id(Sent(7)) == "@id=7"
    assert render_with_id(Message("bob", "hi", 7)) == "@id=7 <bob> hi"


class CountingLines:
    """A line renderer that counts the events it rendered."""

    def __init__(self) -> None:
        self.rendered = 0

    def __call__(self, event: Event) -> str:
        self.rendered += 1
        return render(event)


def test_a_batch_is_rendered_once_for_all_its_recipients() -> None:
    """Encoding the same batch for a hundred members renders its events once."""
    lines = CountingLines()
    cache = RenderCache(lines)
    batch = Batch((Message("bob", "hi"), Joined("eve", "lobby")))
    assert {cache.encode(batch) for _ in range(100)} == {b"<bob> hi\r\n*** eve has joined\r\n"}
    assert lines.rendered == 2


def test_parts_shared_by_several_batches_are_rendered_once() -> None:
    """Batches joined from shared parts reuse what the parts rendered."""
    lines = CountingLines()
    cache = RenderCache(lines)
    shared = Batch((Message("bob", "hi"),))
    first = Batch.joined((shared, Batch((Sent(1),))))
    second = Batch.joined((shared, Batch((Message("eve", "yo"),))))
    assert cache.encode(first) == b"<bob> hi\r\n"
    assert cache.encode(second) == b"<bob> hi\r\n<eve> yo\r\n"
    assert lines.rendered == 3


def test_the_render_cache_holds_a_bounded_number_of_batches() -> None:
    """However many batches go by, at most two generations of them are kept."""
    cache = RenderCache(render, kept=4)
    first = Batch((Message("bob", "first"),))
    cache.encode(first)
    for number in range(20):
        cache.encode(Batch((Message("bob", str(number)),)))
    assert len(cache.recent) + len(cache.older) <= 8
    assert first not in cache.recent and first not in cache.older


def test_a_batch_is_found_again_until_a_generation_has_gone_by() -> None:
    """A batch is kept while fewer than ``kept`` others are rendered after it."""
    lines = CountingLines()
    cache = RenderCache(lines, kept=4)
    batch = Batch((Message("bob", "kept"),))
    cache.encode(batch)
    for number in range(4):
        cache.encode(Batch((Message("bob", str(number)),)))
    cache.encode(batch)
    assert lines.rendered == 5


def test_the_line_protocol_caches_plain_and_id_renderings_apart() -> None:
    """The same batch encodes with and without ids, each rendered once."""
    batch = Batch((Message("bob", "hi", 3),))
    assert encode_batch(batch) == b"<bob> hi\r\n"
    assert encode_batch(batch, with_ids=True) == b"@id=3 <bob> hi\r\n"
    assert encode_batch(batch) is encode_batch(batch)
