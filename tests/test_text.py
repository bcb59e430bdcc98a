"""Text hygiene: what users type is made safe to relay."""

from __future__ import annotations

import pytest

from chat.text import clean, decode, fold, nickname_problem


def test_plain_text_is_kept() -> None:
    """Ordinary text, accents, CJK and emoji pass through untouched."""
    for text in ("hello, world", "café crème", "日本語のテキスト", "🎉 party"):
        assert clean(text) == text


def test_invalid_utf8_becomes_replacement_characters() -> None:
    """Bytes that are not UTF-8 become U+FFFD instead of failing."""
    assert decode(b"ok \xc3\x28 \x80") == "ok \ufffd( \ufffd"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]0;pwned\x07title", "title"),
        ("\x1b]8;;http://x\x1b\\link", "link"),
        ("bell\x07 back\x08space", "bell backspace"),
        ("tab\there", "tab here"),
        ("c1\x9b31m csi", "c131m csi"),
        ("evil\u202egnp.exe", "evilgnp.exe"),
        ("\u2066isolate\u2069", "isolate"),
        ("del\x7f", "del"),
        ("line\u2028break", "linebreak"),
        ("lone escape \x1b", "lone escape "),
    ],
)
def test_control_sequences_are_removed(raw: str, shown: str) -> None:
    """Escape sequences, controls and bidi overrides never reach a terminal."""
    assert clean(raw) == shown


def test_valid_nicknames() -> None:
    """Letters, digits, underscore and dash, 1 to 20 of them, are accepted."""
    for nick in ("a", "Alice", "bob_2", "x-y", "A" * 20):
        assert nickname_problem(nick) is None


@pytest.mark.parametrize("nick", ["", "with space", "émile", "a" * 21, "semi;colon", "/quit"])
def test_invalid_nicknames_say_why(nick: str) -> None:
    """An invalid nickname is explained, not just refused."""
    problem = nickname_problem(nick)
    assert problem is not None
    assert "nickname" in problem


def test_nicknames_compare_ignoring_case() -> None:
    """Alice and ALICE are the same nickname."""
    assert fold("Alice") == fold("ALICE")
