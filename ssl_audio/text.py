"""Small wording helpers shared by every command's output."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 file', '2 files', '0 files' (many: an irregular plural)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
