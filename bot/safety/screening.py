"""The risk screen: what a message says about risk, in three layers a clinician can follow.

1. Normalisation (bot/safety/normalise.py, content/safety/normalise.toml): look-alike letters,
   invisible characters, leetspeak, text-speak and dialect, fillers, misspellings.
2. The lexicon (bot/safety/lexicon.py, content/safety/risk_lexicon.toml): concepts and proximity
   rules, each with a level, a concern and a note of why it exists.
3. The classifier (bot/safety/classifier.py, content/safety/classifier.json.gz): a small
   trained model that can only raise the lexicon's level, never lower it.

Nothing here logs or keeps a message's text.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

from bot.safety.classifier import DEFAULT_CLASSIFIER_PATH, Classifier, Scores
from bot.safety.lexicon import DEFAULT_LEXICON_PATH, Concern, Hit, Lexicon
from bot.safety.normalise import DEFAULT_NORMALISE_PATH, Normaliser

log = logging.getLogger(__name__)

Verdict = Literal["crisis", "check", "none"]
CLASSIFIER = "classifier"
# Normalising is the costly part; screening and the report question often ask about one text.
_REMEMBERED_TEXTS = 64
# The classifier raises a level only for text of at least this many different words, at least
# this share of its words different: a word repeated a thousand times is not a message.
_FEWEST_WORDS = 2
_VARIETY = 0.2


@dataclass(frozen=True)
class Screening:
    """What screening one message found: a level, a concern, and what decided them."""

    verdict: Verdict
    # The lexicon entry that decided the verdict, or "classifier".
    matched: str | None
    pattern: str | None = None
    concern: Concern | None = None
    # Every lexicon entry found, in the order the lexicon ranks them.
    entries: tuple[str, ...] = field(default=())
    # The classifier's likelihood of crisis (None when it is not loaded or not needed).
    score: float | None = None
    # Every concern of the deciding level, the deciding one first: "my husband hits me and I
    # want to die" is about safeguarding and about the writer.
    concerns: tuple[Concern, ...] = field(default=())

    @property
    def is_crisis(self) -> bool:
        """Whether to treat the message as a crisis now."""
        return self.verdict == "crisis"

    @property
    def needs_check(self) -> bool:
        """Whether a person should follow the message up: true for a crisis as well as a check."""
        # Code that only asks this question must still never let a crisis through.
        return self.verdict != "none"

    def to_json(self) -> dict[str, Any]:
        """The verdict, concern, entries and score for storage; the pattern stays out."""
        return {
            "verdict": self.verdict,
            "concern": self.concern,
            "matched": self.matched,
            "entries": list(self.entries),
            "score": None if self.score is None else round(self.score, 3),
        }


NO_RISK = Screening("none", None)


class Screen:
    """The three layers together: normalise, look up the lexicon, let the classifier raise."""

    def __init__(
        self, normaliser: Normaliser, lexicon: Lexicon, classifier: Classifier | None = None
    ) -> None:
        self.normaliser = normaliser
        self.lexicon = lexicon
        self.classifier = classifier
        self.version = lexicon.version + (f"+{classifier.version}" if classifier else "")
        self._marked = lru_cache(maxsize=_REMEMBERED_TEXTS)(normaliser.marked)
        # The adapter screens a message before the turn does: the second time is free.
        self._screened = lru_cache(maxsize=_REMEMBERED_TEXTS)(self._screen)

    @classmethod
    def load(
        cls,
        lexicon_path: Path = DEFAULT_LEXICON_PATH,
        normalise_path: Path = DEFAULT_NORMALISE_PATH,
        classifier_path: Path | None = DEFAULT_CLASSIFIER_PATH,
    ) -> Screen:
        """The screen from its files. A broken lexicon or normalisation file is a ValueError
        (never run without a screen); without a usable classifier the lexicon runs alone."""
        lexicon = Lexicon.load(lexicon_path)
        normaliser = Normaliser.load(normalise_path, lexicon.concept_words)
        classifier = None
        if classifier_path is not None:
            try:
                classifier = Classifier.load(classifier_path)
            except ValueError as error:
                log.error(
                    "the risk classifier cannot be loaded: screening with the lexicon alone",
                    extra={"error": str(error)},
                )
        return cls(normaliser, lexicon, classifier)

    def screen(self, text: str) -> Screening:
        """The level and concern of `text`: the lexicon's, raised by the classifier if it is
        confident of more."""
        return self._screened(text)

    def _screen(self, text: str) -> Screening:
        """Screen `text` (not remembered)."""
        marked = self._marked(text)
        plain = marked.replace("\n", " ")
        found = _specific([self._attributed(hit, plain) for hit in self.lexicon.hits(marked)])
        verdict: Verdict = "none"
        decider: Hit | None = None
        if found:
            verdict = "crisis" if any(hit.level == "crisis" for hit in found) else "check"
            decider = min((hit for hit in found if hit.level == verdict), key=_rank)
        # The classifier can only raise the level: after a lexicon crisis it has nothing to add.
        words = self._words_only(text, plain) if self.classifier and verdict != "crisis" else ""
        scores = self.classifier.score(words) if self.classifier and words else None
        entries = tuple(dict.fromkeys(hit.entry.rule.id for hit in sorted(found, key=_rank)))
        score = scores.crisis if scores else None
        raised = self._raised(verdict, scores, words, _asks_check(found))
        concerns: tuple[Concern, ...]
        if raised is not None and scores is not None:
            concerns = (scores.concern,)
            return Screening(raised, CLASSIFIER, None, scores.concern, entries, score, concerns)
        if decider is None:
            return Screening("none", None, None, None, entries, score)
        rule = decider.entry.rule
        concerns = tuple(
            dict.fromkeys(
                concern
                for hit in (decider, *sorted(found, key=_rank))
                if hit.level == verdict and (concern := hit.concern) is not None
            )
        )
        return Screening(
            verdict, rule.id, decider.entry.source, decider.concern, entries, score, concerns
        )

    def _words_only(self, text: str, plain: str) -> str:
        """The normalised text the classifier scores: without links and machine-made codes."""
        kept = self.normaliser.without_codes(text)
        return plain if kept == text else self._marked(kept).replace("\n", " ")

    def _attributed(self, hit: Hit, plain: str) -> Hit:
        """The hit, its concern moved to someone else when the phrase is said of them."""
        if hit.concern == "self" and self.lexicon.attribution.about_someone_else(
            plain, hit.start, hit.end
        ):
            return dataclasses.replace(hit, concern="someone-else")
        return hit

    def wants_to_report(self, text: str) -> bool:
        """Whether `text` says the patient wants to tell the team about more pain or distress."""
        return self.lexicon.wants_to_report(self._marked(text))

    def normalised(self, text: str) -> str:
        """The text as the lexicon reads it (for clinicians trying the screen)."""
        return self._marked(text).replace("\n", " ")

    def asks_check(self, text: str) -> bool:
        """Whether the lexicon's own verdict is a check from an entry about death or injury
        (`near_crisis`), not from a negated crisis phrase or hopelessness."""
        return _asks_check(self.lexicon.hits(self._marked(text)))

    def _raised(
        self, verdict: Verdict, scores: Scores | None, plain: str, asks_check: bool
    ) -> Verdict | None:
        """The classifier's level where it is higher than the lexicon's."""
        if scores is None or self.classifier is None or verdict == "crisis":
            return None
        words = plain.split()
        if len(set(words)) < _FEWEST_WORDS or len(set(words)) < _VARIETY * len(words):
            return None  # "want to want to want to…": nothing a person wrote to be read
        # After a check entry about death or injury less confidence is needed; not after a
        # negated crisis ("I don't want to die"), where the words were the person's own no, nor
        # after hopelessness or pain idioms ("I want it all to stop hurting").
        needed = (
            self.classifier.crisis_after_check if asks_check else self.classifier.crisis_threshold
        )
        if scores.crisis >= needed:
            return "crisis"
        if verdict == "none" and scores.flag >= self.classifier.check_threshold:
            return "check"
        return None


def _asks_check(hits: list[Hit]) -> bool:
    """Whether the hits make a check (no crisis among them) that a `near_crisis` entry asks."""
    if any(hit.level == "crisis" for hit in hits):
        return False
    return any(hit.entry.rule.near_crisis and not hit.negated for hit in hits)


def _rank(hit: Hit) -> int:
    """The lexicon's order of entries: crisis first, then file order."""
    return hit.index


def _specific(hits: list[Hit]) -> list[Hit]:
    """The hits, without any of the writer's own that lies inside a longer crisis hit of
    another concern: in "my son is suicidal" the concern is someone else, not the writer. (The
    other way round, "my son is suicidal and I feel the same", both concerns stand.)"""
    if len({hit.concern for hit in hits}) < 2:
        return hits
    spans: dict[Concern | None, _Spans] = {}
    for hit in hits:
        if hit.level == "crisis":
            spans.setdefault(hit.concern, _Spans()).add(hit.start, hit.end)
    for found in spans.values():
        found.index()
    return [
        hit
        for hit in hits
        if hit.concern != "self"
        or not any(
            found.contains(hit.start, hit.end)
            for concern, found in spans.items()
            if concern != hit.concern
        )
    ]


class _Spans:
    """Spans of text, asked whether any of them holds a shorter span inside it."""

    def __init__(self) -> None:
        self._spans: list[tuple[int, int]] = []
        self._starts: list[int] = []
        self._furthest: list[int] = []  # the furthest end among spans up to each one

    def add(self, start: int, end: int) -> None:
        """Note a span."""
        self._spans.append((start, end))

    def index(self) -> None:
        """Sort the spans for `contains`."""
        self._spans.sort()
        self._starts = [start for start, _end in self._spans]
        furthest = -1
        for _start, end in self._spans:
            furthest = max(furthest, end)
            self._furthest.append(furthest)

    def contains(self, start: int, end: int) -> bool:
        """Whether a longer span holds start..end."""
        before = bisect.bisect_left(self._starts, start)  # spans starting earlier
        if before and self._furthest[before - 1] >= end:
            return True
        upto = bisect.bisect_right(self._starts, start)  # spans starting here too
        return bool(upto) and self._furthest[upto - 1] > end


@cache
def default_screen(lexicon_path: str = "") -> Screen:
    """The screen from the files in content/safety/ (or another lexicon), loaded once per
    process; a broken lexicon is a ValueError, so nothing runs without a screen."""
    return Screen.load(Path(lexicon_path) if lexicon_path else DEFAULT_LEXICON_PATH)
