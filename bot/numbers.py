"""Whole numbers typed or sent in button data, read safely."""

from __future__ import annotations

# Ids and answers fit a 32-bit database integer; a longer number (a forged button) is none.
MAX_DIGITS = 9


def whole_number(text: str) -> int | None:
    """The number in `text` if it is plain ASCII digits, else None.

    Python's `str.isdigit` also accepts '²' or '٣', which `int` then refuses or misreads.
    """
    if text and text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS:
        return int(text)
    return None
