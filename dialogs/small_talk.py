"""Thanks, greetings, goodbyes and "ok": a short, warm answer and the menu, not a fallback."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from bot.content import Content
from dialogs.menu import menu_buttons
from dialogs.turn import Turn

# The first kind found in this order decides the answer ("ok thanks" is thanks).
KINDS = ("thanks", "goodbye", "greeting", "ok")
# Longer than this is a message with something in it, whatever its words.
_MOST_WORDS = 12
_NOT_WORDS = re.compile(r"[^a-z0-9 ]+")


@cache
def _phrases(content: Content) -> tuple[dict[tuple[str, ...], str], frozenset[str], int]:
    """Each phrase as words with its kind, the filler words, and the longest phrase's length."""
    data = content.small_talk()
    phrases: dict[tuple[str, ...], str] = {}
    for kind in KINDS:
        for phrase in data[kind]:
            phrases.setdefault(tuple(phrase.split()), kind)
    longest = max(len(words) for words in phrases)
    return phrases, frozenset(data["fillers"]), longest


def kind_of(content: Content, text: str) -> str | None:
    """'thanks', 'goodbye', 'greeting' or 'ok' when the whole message is only that; else None."""
    data = content.small_talk()
    bare = "".join(text.split())
    if bare and _only_emoji(bare, data["thanks_emoji"] + data["ok_emoji"]):
        return "thanks" if any(e in bare for e in data["thanks_emoji"]) else "ok"
    plain = unicodedata.normalize("NFKD", text.lower()).replace("'", "").replace("’", "")
    words = _NOT_WORDS.sub(" ", plain).split()
    if not words or len(words) > _MOST_WORDS:
        return None
    phrases, fillers, longest = _phrases(content)
    found: set[str] = set()
    at = 0
    while at < len(words):
        for size in range(min(longest, len(words) - at), 0, -1):
            kind = phrases.get(tuple(words[at : at + size]))
            if kind is not None:
                found.add(kind)
                at += size
                break
        else:
            if words[at] not in fillers:
                return None  # a word that says something more
            at += 1
    return next((kind for kind in KINDS if kind in found), None)


def _only_emoji(bare: str, known: list[str]) -> bool:
    """Whether `bare` (no spaces) is made only of the known emoji."""
    rest = bare
    for emoji in sorted(known, key=len, reverse=True):
        rest = rest.replace(emoji, "")
    return not rest.replace("\ufe0f", "")


def answer(turn: Turn, kind: str, name: str) -> None:
    """A short, warm answer with the menu."""
    turn.say("common/small_talk", menu_buttons(turn), kind=kind, name=name)
