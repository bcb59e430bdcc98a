"""Passwords: scrypt hashes that describe themselves, constant-time checks, the password rules."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from chat.accounts.passwords import (
    PasswordRefusedError,
    hash_password,
    password_fault,
    verify_password,
)

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def stored() -> str:
    """One hash of PASSWORD, made once: each takes tens of milliseconds."""
    return hash_password(PASSWORD)


def test_a_hash_names_scrypt_and_its_parameters(stored: str) -> None:
    """A hash starts with scrypt$16384$8$1$, then the salt and the key."""
    assert stored.startswith("scrypt$16384$8$1$")
    assert len(stored.split("$")) == 6


def test_a_hash_has_a_16_byte_salt_and_a_32_byte_key(stored: str) -> None:
    """The salt and key in a hash decode to 16 and 32 bytes."""
    salt, key = stored.split("$")[4:]
    assert (len(base64.b64decode(salt)), len(base64.b64decode(key))) == (16, 32)


def test_a_hash_is_scrypt_of_the_password_with_its_salt(stored: str) -> None:
    """The key is hashlib.scrypt of the UTF-8 password with the salt and parameters stored."""
    salt, key = (base64.b64decode(part) for part in stored.split("$")[4:])
    expected = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert key == expected


def test_the_same_password_hashes_differently_each_time(stored: str) -> None:
    """Each hash has a salt of its own."""
    assert hash_password(PASSWORD) != stored


def test_the_right_password_verifies(stored: str) -> None:
    """The password a hash was made from verifies against it."""
    assert verify_password(PASSWORD, stored)


def test_a_wrong_password_does_not_verify(stored: str) -> None:
    """Another password, even one character off, does not verify."""
    assert not verify_password(PASSWORD + "!", stored)


def test_the_parameters_are_read_from_the_stored_hash() -> None:
    """A hash made with other scrypt parameters verifies with those parameters."""
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**10, r=4, p=2, dklen=24)
    stored = "$".join(["scrypt", "1024", "4", "2", base64.b64encode(salt).decode(),
                       base64.b64encode(key).decode()])
    assert verify_password(PASSWORD, stored)


def test_a_hash_under_another_schemes_name_does_not_verify(stored: str) -> None:
    """The right salt and key labelled as another scheme than scrypt do not verify."""
    assert not verify_password(PASSWORD, "bcrypt" + stored.removeprefix("scrypt"))


def test_the_keys_are_compared_in_constant_time(
    stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify_password compares the keys with hmac.compare_digest."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify_password(PASSWORD, stored)
    assert len(compared) == 1


def test_composed_and_decomposed_accents_are_one_password() -> None:
    """A password with é composed verifies against its hash made with e and a combining accent."""
    assert verify_password("caf\u00e9 au lait", hash_password("cafe\u0301 au lait"))


def test_lone_surrogates_hash_and_verify() -> None:
    """A password holding undecodable bytes (as surrogates) can be hashed and checked."""
    assert verify_password("pass\udcffword", hash_password("pass\udcffword"))


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "plain text",
        "scrypt$16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==",
        "scrypt$16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$a2V5$extra",
        "scrypt$many$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$a2V5a2V5a2V5a2V5",
        "scrypt$-16$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$a2V5a2V5a2V5a2V5",
        "scrypt$16384$8$1$not base64!$a2V5a2V5a2V5a2V5",
        "scrypt$16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$",
        "scrypt$1000$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$a2V5a2V5a2V5a2V5",
        "scrypt$1073741824$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$a2V5a2V5a2V5a2V5",
        "scrypt$16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$a2V5a2V5a2V5a2V5\u00e9",
    ],
)
def test_a_malformed_stored_hash_verifies_false(malformed: str) -> None:
    """A stored string that is not a usable scrypt hash verifies False and raises nothing."""
    assert verify_password(PASSWORD, malformed) is False


def test_an_empty_password_is_refused() -> None:
    """The empty password is refused as empty."""
    assert password_fault("") == "empty"


def test_a_password_shorter_than_8_characters_is_refused() -> None:
    """Seven characters are too few."""
    assert password_fault("1234567") == "shorter than 8 characters"


def test_8_characters_are_enough() -> None:
    """Eight characters, any of them non-ASCII, make a password."""
    assert password_fault("日本語のパスワ-") is None


def test_512_characters_are_accepted() -> None:
    """The longest password accepted has 512 characters."""
    assert password_fault("x" * 512) is None


def test_a_password_longer_than_512_characters_is_refused() -> None:
    """513 characters are too many."""
    assert password_fault("x" * 513) == "longer than 512 characters"


@pytest.mark.parametrize("control", ["\x00", "\x07", "\t", "\x1b", "\x7f", "\x85"])
def test_a_password_with_control_characters_is_refused(control: str) -> None:
    """C0, DEL and C1 control characters are refused anywhere in a password."""
    assert password_fault(f"long{control}enough") == "contains control characters"


def test_spaces_are_allowed_in_a_password() -> None:
    """A passphrase of words separated by spaces is a password."""
    assert password_fault("correct horse battery") is None


def test_a_refusal_carries_its_reason() -> None:
    """PasswordRefusedError keeps the phrase it was made with, and is a ValueError."""
    error = PasswordRefusedError("empty")
    assert (error.reason, isinstance(error, ValueError)) == ("empty", True)
