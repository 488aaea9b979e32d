"""The risk lexicon catches every must-catch phrase, leaves everyday talk alone, and stays fast."""

from __future__ import annotations

import json
import logging
import random
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from bot.safety.screening import (
    DEFAULT_LEXICON_PATH,
    Lexicon,
    Screening,
    default_lexicon,
    normalise,
)
from tests.safety.corpus import CORPUS, MUST_CATCH, Phrase

LEXICON = default_lexicon()
# A pain programme hears "killing me" all day; a check on one in ten everyday sentences would
# wear out patients and staff alike. The corpus's own everyday phrases should all pass: 0%.
MAX_EVERYDAY_FALSE_POSITIVES = 0.05
# "Well under a second" for a message of a million characters (screening and the report
# question together), measured in CPU time so that a busy machine does not fail the test.


def _mismatches(phrases: list[Phrase], ok: set[str]) -> list[str]:
    """Each phrase whose verdict is not in `ok`, with what it got, for assertion messages."""
    missed: list[str] = []
    for phrase in phrases:
        screening = LEXICON.screen(phrase.text)
        if screening.verdict not in ok:
            missed.append(f"  {phrase.text!r}: {screening.verdict} ({screening.matched})")
    return missed


# --- The corpus ------------------------------------------------------------------------------


def test_the_corpus_is_large_varied_and_without_repeats() -> None:
    counts = Counter(phrase.category for phrase in CORPUS)
    print(f"\ncorpus: {len(CORPUS)} phrases: {dict(sorted(counts.items()))}")
    assert len(CORPUS) >= 170
    assert all(counts[category] >= 10 for category in counts), counts
    assert len(counts) == 8
    texts = [phrase.text.casefold() for phrase in CORPUS]
    assert len(set(texts)) == len(texts), [t for t, n in Counter(texts).items() if n > 1]


def test_every_must_catch_phrase_is_a_crisis() -> None:
    must_catch = [phrase for phrase in CORPUS if phrase.category in MUST_CATCH]
    missed = _mismatches(must_catch, {"crisis"})
    assert not missed, f"{len(missed)} of {len(must_catch)} missed:\n" + "\n".join(missed)


def test_negated_crisis_phrases_and_pain_idioms_always_get_a_check() -> None:
    ambiguous = [phrase for phrase in CORPUS if phrase.category in ("negated", "pain_idiom")]
    missed = _mismatches(ambiguous, {"check", "crisis"})
    assert not missed, f"{len(missed)} got no check:\n" + "\n".join(missed)


@pytest.mark.parametrize("category", sorted({phrase.category for phrase in CORPUS}))
def test_every_phrase_gets_exactly_its_label(category: str) -> None:
    phrases = [phrase for phrase in CORPUS if phrase.category == category]
    wrong = [
        f"{line} (expected {phrase.verdict})"
        for phrase in phrases
        for line in _mismatches([phrase], {phrase.verdict})
    ]
    assert not wrong, f"{len(wrong)} of {len(phrases)} {category} wrong:\n" + "\n".join(wrong)


def test_false_positive_rate_on_everyday_phrases() -> None:
    everyday = [phrase for phrase in CORPUS if phrase.category == "everyday"]
    flagged = _mismatches(everyday, {"none"})
    rate = len(flagged) / len(everyday)
    print(f"\neveryday false positives: {len(flagged)}/{len(everyday)} = {rate:.1%}")
    for line in flagged:
        print(line)
    assert rate <= MAX_EVERYDAY_FALSE_POSITIVES


@pytest.mark.parametrize(
    "text",
    [
        "My son says he wants to kill himself",
        "My partner hits me when he's drunk",
        "I'm scared of my husband",
    ],
)
def test_someone_else_at_risk_gets_a_check(text: str) -> None:
    screening = LEXICON.screen(text)
    assert (screening.verdict, screening.matched) == ("check", "someone-else-at-risk")


# --- Report intents ----------------------------------------------------------------------------


def test_report_intents_are_recognised() -> None:
    reports = [phrase.text for phrase in CORPUS if phrase.category == "report_only"]
    missed = [text for text in reports if not LEXICON.wants_to_report(text)]
    assert not missed, missed


def test_everyday_phrases_are_not_report_intents() -> None:
    everyday = [phrase.text for phrase in CORPUS if phrase.category == "everyday"]
    flagged = [text for text in everyday if LEXICON.wants_to_report(text)]
    assert not flagged, flagged


@pytest.mark.parametrize(
    "text",
    [
        "I'm not in a lot of pain today",
        "I don't need help, thanks",
        "Not struggling this week",
        "I'm not feeling low at all",
        "",
    ],
)
def test_a_negated_report_intent_is_not_one(text: str) -> None:
    assert not LEXICON.wants_to_report(text)


def test_report_intent_and_risk_are_separate_questions() -> None:
    assert LEXICON.screen("I'm struggling").verdict == "none"
    assert LEXICON.wants_to_report("I'm struggling")
    assert LEXICON.screen("I want to die").is_crisis
    assert not LEXICON.wants_to_report("I want to die")
    both = "My pain is really bad today and I want to die"
    assert LEXICON.screen(both).is_crisis
    assert LEXICON.wants_to_report(both)


# --- The lexicon file --------------------------------------------------------------------------


def test_the_lexicon_file_loads_with_a_version_and_unique_ids() -> None:
    with DEFAULT_LEXICON_PATH.open("rb") as file:
        raw = tomllib.load(file)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", raw["version"])
    ids = [entry["id"] for entry in raw["risk"] + raw["report"]]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    assert {entry["level"] for entry in raw["risk"]} == {"crisis", "check"}
    assert all(entry["note"].strip() for entry in raw["risk"])
    assert LEXICON.version == raw["version"]


def test_the_default_lexicon_is_loaded_once() -> None:
    assert default_lexicon() is default_lexicon()


def _entry(entry_id: str, level: str | None, patterns: list[str], note: str | None = "x") -> str:
    """One [[risk]] table; JSON strings are valid TOML basic strings."""
    lines = ["[[risk]]", f"id = {json.dumps(entry_id)}"]
    lines += [f"level = {json.dumps(level)}"] if level is not None else []
    lines += [f"note = {json.dumps(note)}"] if note is not None else []
    lines += [f"patterns = {json.dumps(patterns)}"] if patterns else []
    return "\n".join(lines) + "\n"


_GOOD_ENTRY = _entry("good-entry", "crisis", [r"\bwant to die\b"])


def _write(tmp_path: Path, *entries: str, version: str = 'version = "2026-11-26.1"') -> Path:
    path = tmp_path / "lexicon.toml"
    body = "\n".join((_GOOD_ENTRY, *entries))
    path.write_text(f"{version}\n[define]\nmyself = 'my ?self'\n\n{body}", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("level", "pattern", "problem"),
    [
        ("crisis", r"\bwant (to die", "bad regular expression"),
        ("urgent", r"\bdie\b", "unknown level 'urgent'"),
        ("crisis", r"\bi'm dying\b", "apostrophe"),
        ("crisis", r"\bI want to die\b", "capital letters"),
        ("crisis", r"\bself-harm\b", "punctuation"),
        ("crisis", r"\bwant.*die\b", r"'\*'"),
        ("crisis", r"\bwant(?: to){1,}\b", "bounded repeat"),
        ("crisis", r"\b(?:want )+to die\b", r"'\+'"),
        ("crisis", r"(?:die)?", "matches an empty message"),
        ("crisis", r"\bhang {ourselves}\b", "ourselves"),
        ("crisis", r"\b(?P<verb>die)\b", "named group"),
    ],
)
def test_a_broken_entry_is_refused_by_id(
    tmp_path: Path, level: str, pattern: str, problem: str
) -> None:
    with pytest.raises(ValueError, match="broken-entry") as raised:
        Lexicon.load(_write(tmp_path, _entry("broken-entry", level, [pattern])))
    assert re.search(problem, str(raised.value)), str(raised.value)


def test_a_duplicate_id_is_refused_by_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'good-entry': duplicate id"):
        Lexicon.load(_write(tmp_path, _GOOD_ENTRY))


def test_an_entry_without_a_note_or_patterns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'no-note'.*note"):
        Lexicon.load(_write(tmp_path, _entry("no-note", "check", [r"\bx\b"], note=None)))
    with pytest.raises(ValueError, match=r"'no-patterns'.*patterns"):
        Lexicon.load(_write(tmp_path, _entry("no-patterns", "check", [])))


def test_a_lexicon_without_a_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="version"):
        Lexicon.load(_write(tmp_path, version=""))


def test_crisis_wins_over_check_and_file_order_decides_within_a_level(tmp_path: Path) -> None:
    lexicon = Lexicon.load(
        _write(
            tmp_path,
            _entry("early-check", "check", [r"\bdie\b"]),
            _entry("later-crisis", "crisis", [r"\bto die\b"]),
        )
    )
    # "good-entry" comes first in the file, so it is the one recorded when both match.
    assert lexicon.screen("i want to die") == Screening("crisis", "good-entry", r"\bwant to die\b")
    assert lexicon.screen("ready to die").matched == "later-crisis"
    assert lexicon.screen("die") == Screening("check", "early-check", r"\bdie\b")


# --- Screening results -------------------------------------------------------------------------


def test_to_json_has_the_verdict_and_the_entry_id_only() -> None:
    crisis = LEXICON.screen("I want to kill myself")
    assert crisis.to_json() == {"verdict": "crisis", "matched": "suicide-explicit-kill-myself"}
    assert crisis.pattern is not None
    assert LEXICON.screen("See you on Monday").to_json() == {"verdict": "none", "matched": None}


def test_needs_check_is_true_for_a_crisis_too() -> None:
    crisis, check, none = (LEXICON.screen(t) for t in ("kms", "I give up", "Lovely day"))
    assert (crisis.is_crisis, crisis.needs_check) == (True, True)
    assert (check.is_crisis, check.needs_check) == (False, True)
    assert (none.is_crisis, none.needs_check, none.matched, none.pattern) == (
        False,
        False,
        None,
        None,
    )


def test_screening_never_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        LEXICON.screen("I want to kill myself")
        LEXICON.wants_to_report("I'm in a lot of pain")
    assert not caplog.records


# --- Normalisation and hostile input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("I’m  NOT\u200b ok!!!", "im not ok"),
        ("Don‘t `stop` ME", "dont stop me"),
        ("killlll myyyyself", "kill myyself"),
        ("<b>self-harm</b>\n\n*today*", "self harm today"),
        ("ｉ ｗａｎｔ ｔｏ ｄｉｅ", "i want to die"),
        ("kíll", "kill"),
        ("", ""),
        ("  \n\t ", ""),
        ("😭🙏", ""),
    ],
)
def test_normalise(text: str, normalised: str) -> None:
    assert normalise(text) == normalised


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("", "none"),
        ("   \n\t  ", "none"),
        ("?!...", "none"),
        ("<b>*_[x](y)", "none"),
        ("<b>I want to</b> *kill* _myself_", "crisis"),
        ("[I want to die](https://example.org)", "crisis"),
        ("<script>alert('I want to die')</script>", "crisis"),
        ("<i want to die>", "crisis"),
        ("I&#39;m going to kill&nbsp;myself", "crisis"),
        ("I want to die 😭😭😭", "crisis"),
        ("😀" * 1000, "none"),
        ("أنا بخير، شكراً", "none"),
        ("אני בסדר תודה", "none"),
        ("I want to \u202edie", "crisis"),
        ("\u202bI want to die\u202c", "crisis"),
        ("I want to ki\u200bll myself", "crisis"),
        ("I want to\n\nkill     myself", "crisis"),
        ("I want\tto\r\ndie", "crisis"),
        ("I’m going to kill myself", "crisis"),
        ("I don’t want to kill myself", "check"),
        ("I WANT TO DIE", "crisis"),
        ("SUICIDAL", "crisis"),
        ("I want to kíll myself", "crisis"),
        ("ｉ ｗａｎｔ ｔｏ ｄｉｅ", "crisis"),
    ],
)
def test_hostile_and_unusual_input(text: str, verdict: str) -> None:
    assert LEXICON.screen(text).verdict == verdict


# Everyday words only, so a long random message of them can never form a risk phrase.
_SAFE_TEXT = """
the a my i we it was is and to of in on for at with session today physio walk pacing stretch
group tea garden bus car morning evening good fine okay thanks lovely weather tired sleep knee
back shoulder breathing relaxation diary goal week monday friday home family dog cat film book
reading cooking quiet slowly better little bit more less
"""


def _long_message(length: int, seed: int = 7) -> str:
    """About `length` characters of varied everyday words and punctuation."""
    rng = random.Random(seed)
    words = _SAFE_TEXT.split()
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(words) + rng.choice(("", "", "", ",", ".", "!", "\n"))
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:length]


# How fast huge input screens is measured by benchmarks/screening.py, not by timed tests.


def test_a_million_characters_of_everyday_words_screen_as_nothing() -> None:
    text = _long_message(1_000_000)
    assert LEXICON.screen(text).verdict == "none"
    assert LEXICON.wants_to_report(text) is False


def test_a_risk_phrase_at_the_very_end_of_a_long_message_is_found() -> None:
    text = _long_message(1_000_000) + " and honestly I want to end my life"
    screening = LEXICON.screen(text)
    assert screening.verdict == "crisis"
    assert screening.matched == "suicide-explicit-end-life"


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("a" * 100_000, "none"),
        ("!" * 100_000, "none"),
        ("😭" * 100_000, "none"),
        ("<" * 100_000, "none"),
        ("<b" * 100_000, "none"),
        (" " * 100_000, "none"),
        ("\u200b" * 100_000, "none"),
        ("1" * 100_000, "none"),
        ("k" * 100_000 + "ill myself", "none"),  # not a word anyone wrote
        ("kill " * 100_000, "none"),  # no one named to harm
        ("want to " * 100_000, "none"),
        ("i dont want to die. " * 25_000, "check"),  # half a megabyte, every phrase negated
        ("ab " * 300_000, "none"),
    ],
    ids=lambda value: f"{value[:6]!r}x{len(value)}" if len(value) > 10 else value,
)
def test_repetitive_input_gets_the_right_verdict(text: str, verdict: str) -> None:
    assert LEXICON.screen(text).verdict == verdict
    assert LEXICON.wants_to_report(text) is False


def test_the_one_pass_scanner_finds_what_each_pattern_finds_alone() -> None:
    # White-box: screening runs every pattern at once through a combined look-ahead for speed.
    # Trying each pattern on its own at every position must find exactly the same matches.
    rng = random.Random(11)
    words = normalise(DEFAULT_LEXICON_PATH.read_text(encoding="utf-8")).split()
    texts = [normalise(phrase.text) for phrase in CORPUS]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 10))) for _ in range(800)]
    for scanner, entries in (
        (LEXICON._risk_scanner, LEXICON._risks),
        (LEXICON._report_scanner, LEXICON._reports),
    ):
        for text in texts:
            found = set(scanner.matches(text))
            expected = set()
            for start in range(len(text) + 1):
                for index, entry in enumerate(entries):
                    if entry.pattern.match(text, start):
                        expected.add((index, start))
                        break
            assert found == expected, text
