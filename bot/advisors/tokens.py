"""The secrets of the web view: login links, session cookies, form tokens, advisors' codes.

Tokens carry 256 random bits (`secrets.token_urlsafe(32)`); the database keeps only their SHA-256
(`digest`): with that many bits a plain hash is as good as a slow one, and a stolen copy of the
database opens no session. Codes are not secrets: an advisor shows theirs to managers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits
# Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L) when read aloud.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_token() -> str:
    """A fresh secret, URL-safe (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """What the database keeps of a token: its SHA-256, in hexadecimal."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(given: str, expected: str) -> bool:
    """Compare two tokens in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def new_code() -> str:
    """An advisor's code: 8 characters a manager can type on a phone."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def read_code(text: str) -> str | None:
    """A code as typed ("k7m2-q9xd", "K7M2 Q9XD") in its stored form; None when it cannot
    be one."""
    code = "".join(ch for ch in text.upper() if ch not in " -")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code
