"""Reading a typed answer to a safety question: only a clear no counts as no.

"Are you having thoughts of ending your life?" answered "nah I'm fine" is a no; "not really",
"sometimes", "kind of", "I don't know", "why?" or anything longer that hedges is not a clear no,
and is treated as yes. When unsure, escalate.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Literal

Answer = Literal["yes", "no", "unsure"]

_APOSTROPHES = re.compile("['`´‘’ʼ]")
_NOT_WORDS = re.compile(r"[^\w]+")
# Words that begin a no.
_NO = frozenset({"no", "nope", "nah", "naw", "na", "nay", "nae", "never", "nop", "noo", "nooo"})
# Whole answers that are a no without starting with one of those.
_NO_PHRASES = frozenset(
    {
        "im not",
        "i am not",
        "not at all",
        "definitely not",
        "certainly not",
        "absolutely not",
        "of course not",
        "not me",
        "im fine",
        "i am fine",
        "im ok",
        "im okay",
        "i am ok",
        "i am okay",
        "im alright",
        "im safe",
        "i am safe",
        "all good",
    }
)
# Words that make an unclear answer lean towards yes ("sometimes", "a bit").
_PARTLY_YES = frozenset(
    {
        "again",
        "bit",
        "kind",
        "kinda",
        "lately",
        "little",
        "maybe",
        "now",
        "occasionally",
        "often",
        "probably",
        "recently",
        "sometimes",
        "sort",
        "sorta",
        "times",
        "used",
        "yeah",
        "yes",
    }
)
# Words that make a no less than clear: those leaning to yes, and doubt or a "but".
_HEDGES = _PARTLY_YES | frozenset(
    {
        "anymore",
        "but",
        "dunno",
        "except",
        "guess",
        "hmm",
        "idk",
        "if",
        "know",
        "mostly",
        "much",
        "perhaps",
        "really",
        "sometime",
        "suppose",
        "sure",
        "think",
        "tho",
        "though",
        "today",
        "tonight",
        "unless",
        "unsure",
        "well",
        "what",
        "why",
        "yet",
    }
)
# Exclamations that may come before an answer ("god no", "oh yes"): passed over.
_EXCLAMATIONS = frozenset(
    {"god", "oh", "hell", "lord", "gosh", "goodness", "heavens", "christ", "blimey", "um", "erm"}
)
# Words that may follow a no and leave it a no ("no thanks, just tired", "nah I'm fine x").
_KEEPS_NO = frozenset(
    {
        "none",
        "those",
        "these",
        "them",
        "any",
        "nothing",
        "like",
        "that",
        "no",
        "nope",
        "nah",
        "never",
        "not",
        "at",
        "all",
        "thanks",
        "thank",
        "you",
        "cheers",
        "ta",
        "x",
        "xx",
        "xxx",
        "love",
        "mate",
        "pet",
        "hun",
        "im",
        "i",
        "am",
        "me",
        "its",
        "fine",
        "ok",
        "okay",
        "alright",
        "good",
        "safe",
        "definitely",
        "certainly",
        "of",
        "course",
        "absolutely",
        "just",
        "fed",
        "up",
        "tired",
        "sore",
        "in",
        "pain",
        "the",
        "a",
        "bad",
        "day",
        "havent",
        "dont",
        "wouldnt",
        "thats",
        "right",
        "honest",
        "promise",
        "way",
        "sir",
        "miss",
        "dear",
        "lol",
        "haha",
        "ha",
    }
)
# Words that say someone is well: "not" before one of them is not a no to the question.
_WELL = frozenset({"fine", "ok", "okay", "alright", "good", "safe", "great", "well", "coping"})
_YES = frozenset(
    {"yes", "yeah", "yep", "yup", "aye", "y", "ya", "yea", "ye", "yh", "yas", "yess", "ja", "oui"}
)
_YES_EMOJI = frozenset("👍✅✔☑")
_NO_EMOJI = frozenset("👎❌✖🙅")
# A clear no is short: a longer answer is read by a person.
_LONGEST_CLEAR_NO = 10


def classify(text: str) -> Answer:
    """ "no" only for a clear no; "yes" for a plain yes; "unsure" for anything else."""
    stripped = text.strip()
    if stripped and all(char in _NO_EMOJI or char.isspace() for char in stripped):
        return "no"
    if stripped and all(char in _YES_EMOJI or char.isspace() for char in stripped):
        return "yes"
    words = _NOT_WORDS.sub(" ", _APOSTROPHES.sub("", stripped.casefold())).split()
    while len(words) > 1 and words[0] in _EXCLAMATIONS:
        words = words[1:]
    if not words:
        return "unsure"
    if _clear_no(words):
        return "no"
    if words[0] in _YES and not (set(words[1:]) & {"but", "not", "no"}):
        return "yes"
    return "unsure"


def _clear_no(words: list[str]) -> bool:
    """A short no (or a known no), with nothing after it but words that keep it a no: "no
    thanks, I'm fine" is a no; "no idea", "no one cares", "no, I have a plan" and "I'm not
    okay" are not."""
    if len(words) > _LONGEST_CLEAR_NO or set(words) & _HEDGES:
        return False
    if any(a in ("not", "never") and b in _WELL for a, b in pairwise(words)):
        return False  # "I'm not okay", "not safe": a no to being well
    if words[0] in _NO:
        rest = words[1:]
    else:
        found = next(
            (phrase for phrase in _NO_PHRASES if words[: len(phrase.split())] == phrase.split()),
            None,
        )
        if found is None:
            return False
        rest = words[len(found.split()) :]
    return all(word in _KEEPS_NO for word in rest)


def leans_yes(text: str) -> bool:
    """Whether an answer that is not a clear no leans towards yes ("sometimes", "a bit"), so
    the follow-up question fits it."""
    words = set(_NOT_WORDS.sub(" ", _APOSTROPHES.sub("", text.casefold())).split())
    return bool(words & _PARTLY_YES) or classify(text) == "yes"
