"""The crisis reply for what a message was about: the writer, someone they might hurt, abuse,
or someone else at risk. Rendered by the adapter before any database work, and by the turn."""

from __future__ import annotations

from bot.content import Content
from bot.safety.screening import Screening

# Lexicon entries that add a line to the safeguarding answer.
SEXUAL_VIOLENCE = "safeguarding-sexual"
CHILD_AT_RISK = ("safeguarding-child", "safeguarding-grooming")


def concerns_of(screening: Screening | None) -> list[str]:
    """What a crisis screening is about, the deciding concern first (the writer's own safety
    when nothing more is known)."""
    return list(screening.concerns) if screening is not None and screening.concerns else ["self"]


def crisis_text(content: Content, screening: Screening | None, concern: str | None = None) -> str:
    """The crisis reply for this screening, or for a concern already known (the writer's own
    safety when nothing more is known)."""
    concerns = concerns_of(screening) if screening is not None else [concern or "self"]
    entries = screening.entries if screening is not None else ()
    classifier = screening is not None and not entries
    return content.render(
        "safety/crisis",
        concerns=concerns,
        # Which helplines fit: the specific ones when the lexicon says so, all when it was the
        # classifier (nothing more is known).
        sexual=classifier or SEXUAL_VIOLENCE in entries,
        child=classifier or any(entry in entries for entry in CHILD_AT_RISK),
    )
