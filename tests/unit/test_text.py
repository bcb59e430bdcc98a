"""Text hygiene: what users type is made safe to relay."""

from __future__ import annotations

import pytest

from chat.text import clean, decode, fold, nickname_problem, number, relayable, visible


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


@pytest.mark.parametrize(
    ("raw", "relayed"),
    [
        ("hi" + " " * 200 + "*** alice has left", "hi *** alice has left"),
        ("a\t\t b", "a b"),
        ("wide\u3000\u3000gap", "wide gap"),
        ("braille\u2800\u2800\u2800pad", "braille pad"),
        ("one space kept", "one space kept"),
        (" edges  ", " edges "),
    ],
)
def test_runs_of_blanks_become_one_space(raw: str, relayed: str) -> None:
    """No run of blank characters survives to pad a message to a terminal's width."""
    assert relayable(raw) == relayed


def test_visible_escapes_what_clean_would_remove() -> None:
    """An error can show what was typed, control characters escaped, not hidden."""
    assert visible("\x1b[31mred") == "\\x1b[31mred"
    assert visible("al\x00ice\u202e") == "al\\x00ice\\u202e"
    assert visible("café") == "café"


@pytest.mark.parametrize(("typed", "value"), [("0", 0), ("042", 42), ("²", None), ("٣", None),
                                              ("", None), ("-1", None), ("1.5", None)])
def test_numbers_are_ascii_digits_only(typed: str, value: int | None) -> None:
    """``str.isdigit`` accepts ``²``, which ``int`` refuses: only 0-9 make a number."""
    assert number(typed) == value
