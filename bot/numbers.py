"""Whole numbers typed or sent in button data, read safely."""

from __future__ import annotations


def whole_number(text: str) -> int | None:
    """The number in `text` if it is plain ASCII digits, else None.

    Python's `str.isdigit` also accepts '²' or '٣', which `int` then refuses or misreads.
    """
    if text and text.isascii() and text.isdigit():
        return int(text)
    return None
