"""Small wording helpers shared by every command's output."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 file', '2 files', '0 files' (many: an irregular plural)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def files_and_segments(counts: dict[str, int]) -> str:
    """'3 files (25 segments)', or '30 files' when no file was cut into segments (prepare's --segment-seconds)."""
    files, segments = counts["files"], counts["segments"]
    return plural(files, "file") + (f" ({plural(segments, 'segment')})" if segments != files else "")
