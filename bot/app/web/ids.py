"""Ids and small numbers from URLs and forms, read safely: anything else is None (a 404 or a
kind error, never a 500)."""

from __future__ import annotations

from bot.numbers import whole_number

# Ids fit a 32-bit database integer.
MAX_ID = 2**31 - 1


def record_id(text: object) -> int | None:
    """A database id: plain ASCII digits (not '²' or '٣', which int() refuses or misreads)."""
    if isinstance(text, int):
        value: int | None = text
    else:
        value = whole_number(str(text or "").strip())
    return value if value is not None and 0 < value <= MAX_ID else None


def number_in(text: object, allowed: range) -> int | None:
    """A small number typed in a form, if it is one of `allowed`."""
    value = whole_number(str(text or "").strip())
    return value if value is not None and value in allowed else None
