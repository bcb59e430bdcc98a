"""Passwords: memory-hard hashes to store, constant-time checks, and what a password must be.

:func:`hash_password` makes a ``hashlib.scrypt`` hash stored as one
self-describing string, ``scrypt$N$r$p$<salt>$<key>`` (base64), so the
parameters of hashes made later can change without breaking the ones
stored; :func:`verify_password` reads the parameters back from it. Both
block for tens of milliseconds on purpose: callers run them off the
reactor thread. :func:`password_fault` says why a password is refused,
and :class:`PasswordRefusedError` carries that reason.

A password is hashed as UTF-8 of its NFC form, so the same password typed
on terminals that compose accents differently is the same password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
"""The scrypt cost parameters of new hashes: about 16 MiB and 50 ms each."""
SALT_BYTES = 16
KEY_BYTES = 32
MAX_MEMORY = 64 * 1024 * 1024
"""Bytes scrypt may use to check a stored hash; a hash asking for more does not verify."""
PASSWORD_MIN, PASSWORD_MAX = 8, 512
"""The shortest and longest passwords accepted, in characters."""


class PasswordRefusedError(ValueError):
    """A password that :func:`password_fault` refuses; ``reason`` is its short phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``, with its parameters, to store."""
    salt = os.urandom(SALT_BYTES)
    key = _scrypt(password, salt, N, R, P, KEY_BYTES)
    return "$".join([SCHEME, str(N), str(R), str(P), _b64(salt), _b64(key)])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from; a malformed ``stored`` is not."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    try:
        candidate = _scrypt(password, salt, n, r, p, len(key))
    except (ValueError, OverflowError, MemoryError):
        return False
    return hmac.compare_digest(candidate, key)


def password_fault(password: str) -> str | None:
    """Why ``password`` cannot be used, as a short phrase, or None when it can."""
    if not password:
        return "empty"
    if len(password) < PASSWORD_MIN:
        return f"shorter than {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"longer than {PASSWORD_MAX} characters"
    if any(unicodedata.category(char) == "Cc" for char in password):
        return "contains control characters"
    return None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    secret = unicodedata.normalize("NFC", password).encode("utf-8", "surrogatepass")
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY, dklen=length)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    """The parameters, salt and key of a stored hash, or None if it is not one."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    numbers = [int(part) for part in parts[1:4] if part.isascii() and part.isdigit()]
    salt, key = _unb64(parts[4]), _unb64(parts[5])
    if len(numbers) != 3 or not salt or not key:
        return None
    n, r, p = numbers
    return n, r, p, salt, key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
