"""Layer 1 of the risk screen: rewrite a message into the plain words the lexicon reads.

What is rewritten, and how, is clinical data in content/safety/normalise.toml; this module
applies it. Nothing here logs or keeps a message's text.
"""

from __future__ import annotations

import html
import importlib.resources
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from symspellpy import SymSpell, Verbosity

DEFAULT_NORMALISE_PATH = (
    Path(__file__).resolve().parent.parent.parent / "content" / "safety" / "normalise.toml"
)
DICTIONARY = "frequency_dictionary_en_82_765.txt"

_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
# Dropped before Unicode decomposition: NFKD turns the acute accent '´' into a space and a mark.
_APOSTROPHES = "'`´‘’‚‛′‵ʹʻʼʽˈ＇"
# Invisible characters that can hide inside a word: soft hyphen, zero-width and joiners,
# text-direction marks and isolates, variation selectors, Hangul fillers, byte-order mark.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
)
# Both are dropped in one pass.
_DROPPED = re.compile(f"[{_APOSTROPHES}{_INVISIBLE}]")
_NOT_ASCII = re.compile("[^\x00-\x7f]+")
_NOT_ASCII_RUN = re.compile("([^\x00-\x7f]+)")
# Combining accents left by NFKD, so "kíll" reads as "kill".
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Formatting tags only, so "<i want to die>" stays words; bounded, so a stray '<' costs little.
_HTML_TAG = re.compile(
    r"</?(?:a|b|i|u|s|em|strong|code|pre|span|p|br|div|del|ins|sub|sup|mark|small|big|font"
    r"|blockquote|h[1-6]|li|ul|ol|script|style|img|tg-spoiler|tg-emoji)"
    r"(?:\s[^<>=]{0,60}=[^<>]{0,200})?\s?/?>"
)
# A word with digits or symbols among its letters: "k1ll", "su!c!de", "d13", "5u1c1d3". Words
# that only start with digits ("30mg", "2day") are left to the [words] table.
_LEET_HINT = re.compile(r"[a-z][0-9@$!|*]|[0-9@$!|*][a-z]")
# Such a word is a whole run of these characters, and every one holds a hint.
_LEET_WORD = re.compile(
    r"(?:[a-z][a-z0-9@$!|*]*[0-9@$!|*]|[0-9@$!|*]+[a-z]+[0-9@$!|*])[a-z0-9@$!|*]*"
)
_LEET_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@$!|*")
_LEET_RUN = re.compile(r"[a-z0-9@$!|*]+")
# Punctuation that ends a clause: a negation before it does not reach a phrase after it.
_CLAUSE_BREAK = re.compile("[.,;:!?()\\[\\]{}|\n\r\u0085\u2028\u2029\u2013\u2014\u2022]+")
# Everything else that is not part of a word; single spaces are left alone, which is faster.
_SEPARATOR = re.compile(r"[^\w\n ]|_")
# Clause breaks and separators among ASCII characters, as one translation table; then the
# others.
_OTHER_BREAK = re.compile("[\u0085\u2028\u2029\u2013\u2014\u2022]")
_OTHER_SEPARATOR = re.compile(r"[^\w\x00-\x7f]")
# As bytes: translating ASCII bytes through a 256-byte table is many times faster than
# translating a str through a dict.
_ASCII_BREAKS = bytes(
    (ord("\n") if _CLAUSE_BREAK.match(chr(code)) else ord(" "))
    if code < 128 and (_CLAUSE_BREAK.match(chr(code)) or _SEPARATOR.match(chr(code)))
    else code
    for code in range(256)
)


def _ascii_broken(text: str) -> str:
    """ASCII `text` with clause breaks as newlines and other separators as spaces."""
    return text.encode("ascii").translate(_ASCII_BREAKS).decode("ascii")


_STRETCHED = re.compile(r"([a-z])\1\1+")
# Letters spelt out one at a time: three or more single letters in a row, one space apart
# (two spaces, as in "k i l l  m e", end a word).
_SPELLED_OUT = re.compile(r"\b(?:[a-z] ){2,}[a-z]\b")
_TOP_LEVEL_KEYS = {"version", "lookalike", "emoji", "leet", "words", "fillers", "spelling"}
_WORD = re.compile(r"[a-z0-9]+(?: [a-z0-9]+)*")
# Words shorter than this are never corrected: too many real words are one slip from them.
_SHORTEST_CORRECTED = 5
_TWO_SLIPS_FROM = 8
_CACHE_SIZE = 100_000
# Words run together are looked for in tokens up to this long, made of words up to this long.
_LONGEST_SPLIT = 40
_LONGEST_PART = 16
# Links, and long runs of letters, digits, '_' and '-' with capitals or digits among them: an
# invitation code ("/start N_Vubzk2gPBXhDh16xl5YQ") is one. Spelled towards risk words by
# chance, a code can look like anything to the classifier.
_LINK = re.compile(r"(?:\bhttps?://|\bwww\.|\bt\.me/)\S*", re.IGNORECASE)
_LONG_RUN = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{16,}(?![\w-])")
_CODE_HINT = re.compile(r"[0-9]|[a-z][A-Z]")
# The pieces a code is cut into to see whether it is words: "ICantDoThisAnymore" is.
_PIECE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
# Two-letter words a person would run together; others of two letters are mostly abbreviations.
# fmt: off
_SHORT_WORDS = frozenset({
    "i", "a", "am", "an", "as", "at", "be", "by", "do", "go", "he", "if", "in", "is",
    "it", "me", "my", "no", "of", "oh", "ok", "on", "or", "so", "to", "up", "us", "we",
})
# fmt: on


class Normaliser:
    """Rewrites messages as the lexicon and the classifier read them."""

    def __init__(
        self,
        version: str,
        lookalike: Mapping[str, str],
        emoji: Mapping[str, str],
        leet: Mapping[str, str],
        words: Mapping[str, str],
        fillers: Iterable[str],
        filler_phrases: Iterable[str],
        targets: Iterable[str],
        dictionary: Mapping[str, float],
    ) -> None:
        self.version = version
        letters = dict(lookalike) | {
            key.upper(): value for key, value in lookalike.items() if len(key.upper()) == 1
        }
        self._letters = str.maketrans(letters | {key: f" {value} " for key, value in emoji.items()})
        self._leet = str.maketrans(dict(leet))
        self._words = dict(words)
        self._fillers = frozenset(fillers)
        phrases = sorted(filler_phrases, key=len, reverse=True)
        self._filler_phrases = (
            re.compile(r"(?<![^ \n])(?:" + "|".join(map(re.escape, phrases)) + r")(?![^ \n])")
            if phrases
            else None
        )
        self._targets = frozenset(targets)
        self._dictionary = dictionary
        self._speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for target in sorted(self._targets):
            self._speller.create_dictionary_entry(target, 1)
        # Per-word results are cached: a word's reading never depends on its neighbours.
        self._word = lru_cache(maxsize=_CACHE_SIZE)(self._read_word)

    @classmethod
    def load(
        cls, path: Path = DEFAULT_NORMALISE_PATH, extra_targets: Iterable[str] = ()
    ) -> Normaliser:
        """Read and check the normalisation file; any mistake is a ValueError naming it."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"normalisation {path.name}: not valid TOML: {error}") from None
        return _parse(data, extra_targets)

    def marked(self, text: str) -> str:
        """The normalised text: clause breaks as one newline, every other gap one space."""
        if "&" in text:
            text = _ENTITY.sub(_unescape, text)  # "I&#39;m", "kill&nbsp;myself" read as typed
        text = _DROPPED.sub("", text)
        if not text.isascii():
            # Emoji and look-alike letters in one pass (the table has capitals too), then
            # accents off.
            text = _NOT_ASCII.sub(self._swap_letters, text)
            if not text.isascii():
                text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
        text = text.casefold()
        if "<" in text:
            text = _HTML_TAG.sub(" ", text)
        if _LEET_HINT.search(text):
            text = self._unleeted(text)
        if text.isascii():
            text = _ascii_broken(text)  # punctuation, the fast way
        else:
            # Translating is fast only on ASCII: the other characters, a run at a time.
            pieces = _NOT_ASCII_RUN.split(text)
            pieces[::2] = [_ascii_broken(piece) for piece in pieces[::2]]
            pieces[1::2] = [
                _OTHER_SEPARATOR.sub(" ", _OTHER_BREAK.sub("\n", piece)) for piece in pieces[1::2]
            ]
            text = "".join(pieces)
        text = _SPELLED_OUT.sub(_joined, text)
        word = self._word
        text = "\n".join(" ".join(map(word, clause.split())) for clause in text.split("\n"))
        if self._filler_phrases is not None:
            text = self._filler_phrases.sub("", text)
        fillers = self._fillers
        clauses = (
            " ".join(w for w in clause.split() if w not in fillers) for clause in text.split("\n")
        )
        return "\n".join(filter(None, clauses))

    def without_codes(self, text: str) -> str:
        """`text` without links and machine-made codes: what the classifier scores. (The lexicon
        reads them all: "I_W4nt_T0_D1e" is words.)"""
        if "/" in text or "www" in text:
            text = _LINK.sub(" ", text)
        return _LONG_RUN.sub(self._code_dropped, text)

    def _code_dropped(self, run: re.Match[str]) -> str:
        """A long run, or a space where it is a code: capitals or digits in it, and fewer than
        half its letters in words ("N_Vubzk2gPBXhDh16xl5YQ", not "ICantDoThisAnymore")."""
        found = run[0]
        if not _CODE_HINT.search(found):
            return found  # words run together in lower case: "iwanttodieiwanttodie"
        # Digits as digits ("paracetamol500mg") or as letters ("I_W4nt_T0_D1e").
        for reading in (found, found.translate(self._leet)):
            if 2 * self._worded(reading) >= sum(map(str.isalpha, reading)):
                return found
        return " "

    def _worded(self, text: str) -> int:
        """How many of the letters of `text` are in English words, cut at capitals and gaps."""
        return sum(
            len(piece)
            for piece in _PIECE.findall(text)
            if (word := piece.lower()) in self._dictionary
            and (len(word) > 2 or word in _SHORT_WORDS)
        )

    def _swap_letters(self, run: re.Match[str]) -> str:
        """A run of characters outside ASCII, look-alike letters and emoji swapped (only these
        runs are translated: a long message of plain letters costs nothing here)."""
        return run[0].translate(self._letters)

    def plain(self, text: str) -> str:
        """The normalised text with clause breaks as spaces (offsets equal the marked text's)."""
        return self.marked(text).replace("\n", " ")

    def _read_word(self, word: str) -> str:
        """Text-speak and dialect become standard words; a misspelling of a word that matters
        becomes that word."""
        # A function, not the template r"\1": Python 3.11 expands templates far more slowly.
        word = _STRETCHED.sub(_first_group, word)
        mapped = self._words.get(word)
        if mapped is not None:
            return mapped
        if (
            len(word) < _SHORTEST_CORRECTED
            or word in self._dictionary
            or word in self._targets
            or not word.isalpha()
            or not word.isascii()
        ):
            return word
        if word.endswith("in") and f"{word}g" in self._dictionary:
            return f"{word}g"  # "thinkin" is "thinking"
        slips = 2 if len(word) >= _TWO_SLIPS_FROM else 1
        found = self._speller.lookup(word, Verbosity.TOP, max_edit_distance=slips)
        if found:
            return str(found[0].term)
        parts = self._split(word)
        # Words run together ("killmyself") are split only where that shows a word that matters.
        if parts and any(part in self._targets for part in parts):
            return " ".join(self._read_word(part) for part in parts)
        return word

    def _split(self, word: str) -> list[str] | None:
        """The likeliest English words `word` is made of, if it is made of two to five."""
        if len(word) < _TWO_SLIPS_FROM - 1 or len(word) > _LONGEST_SPLIT:
            return None
        # best[i]: (log-likelihood, parts) of the best split of word[:i].
        best: list[tuple[float, list[str]] | None] = [(0.0, [])] + [None] * len(word)
        for end in range(1, len(word) + 1):
            for start in range(max(0, end - _LONGEST_PART), end):
                before = best[start]
                part = word[start:end]
                score = self._dictionary.get(part)
                if before is None or score is None or (len(part) == 1 and part not in "ia"):
                    continue
                candidate = before[0] + score
                current = best[end]
                if current is None or candidate > current[0]:
                    best[end] = (candidate, [*before[1], part])
        found = best[-1]
        return found[1] if found is not None and 2 <= len(found[1]) <= 5 else None

    def _unleeted(self, text: str) -> str:
        """`text` with each word that has digits or symbols for letters spelt with the letters."""
        # Only the words around a hint are looked at: a regex tried at every word of a long
        # message costs more than the rest of normalisation.
        pieces: list[str] = []
        done = read = 0  # copied up to; looked at up to
        for hint in _LEET_HINT.finditer(text):
            begin = hint.start()
            if begin < read:
                continue  # within the word just looked at
            while begin > read and text[begin - 1] in _LEET_CHARACTERS:
                begin -= 1
            read = _LEET_RUN.match(text, begin).end()  # type: ignore[union-attr]
            word = text[begin:read]
            if _LEET_WORD.fullmatch(word):
                pieces += [text[done:begin], self._unleet(word)]
                done = read
        return "".join(pieces) + text[done:] if pieces else text

    def _unleet(self, word: str) -> str:
        """A word with digits or symbols for letters, spelt with the letters."""
        # Symbols at the end ("help!") are punctuation, not letters.
        core = word.rstrip("@$!|*")
        if core in self._words:
            return word  # text-speak such as "b4" has its own reading
        return core.translate(self._leet) + word[len(core) :]


def _unescape(entity: re.Match[str]) -> str:
    """The character an HTML entity stands for."""
    return html.unescape(entity[0])


def _first_group(match: re.Match[str]) -> str:
    """A letter twice: "ll" from "llll"."""
    return match[1] * 2


def _joined(match: re.Match[str]) -> str:
    """Letters spelt out ("k i l l") as one word."""
    return match[0].replace(" ", "")


@lru_cache(maxsize=1)
def english_words() -> dict[str, float]:
    """The English words symspellpy ships (82,765), each with the log of how often it is used."""
    text = (importlib.resources.files("symspellpy") / DICTIONARY).read_text(encoding="utf-8")
    counts = {}
    for line in text.splitlines():
        word, _, count = line.partition(" ")
        counts[word] = int(count)
    total = sum(counts.values())
    return {word: math.log(count / total) for word, count in counts.items()}


def checked_version(data: Mapping[str, Any], known: set[str], what: str) -> str:
    """The `version` of a parsed clinical data file, after refusing keys it does not know."""
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{what}: unknown top-level keys {sorted(unknown)}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ValueError(f"{what}: `version` must be a non-empty string")
    return version


def _parse(data: Mapping[str, Any], extra_targets: Iterable[str]) -> Normaliser:
    """Build a Normaliser from parsed TOML, refusing entries that could not work."""
    version = checked_version(data, _TOP_LEVEL_KEYS, "normalisation")
    lookalike = _table(data, "lookalike", single_key=True)
    emoji = _table(data, "emoji", single_key=True)
    leet = _table(data, "leet", single_key=True, empty_value=True)
    words = _table(data, "words")
    for key, value in words.items():
        if not _WORD.fullmatch(key) or " " in key or not _WORD.fullmatch(value):
            raise ValueError(
                f"normalisation: [words] {key!r} = {value!r}: one lower-case word without"
                " apostrophes, becoming lower-case words"
            )
    fillers = data.get("fillers", {})
    spelling = data.get("spelling", {})
    filler_words = _word_list(fillers, "fillers", "words")
    filler_phrases = _word_list(fillers, "fillers", "phrases")
    targets = _word_list(spelling, "spelling", "words")
    extra = [word for word in extra_targets if word.isalpha() and len(word) >= 4]
    return Normaliser(
        version,
        lookalike,
        emoji,
        leet,
        words,
        filler_words,
        filler_phrases,
        [*targets, *extra],
        english_words(),
    )


def _table(
    data: Mapping[str, Any], key: str, single_key: bool = False, empty_value: bool = False
) -> dict[str, str]:
    """A [key] table of texts."""
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(
        isinstance(value, str) and (value or empty_value) for value in table.values()
    ):
        raise ValueError(f"normalisation: [{key}] must map texts to texts")
    if single_key and not all(len(name) == 1 for name in table):
        raise ValueError(f"normalisation: [{key}] keys must be single characters")
    return dict(table)


def _word_list(table: Any, section: str, key: str) -> list[str]:
    """A list of lower-case words (or phrases) under [section]."""
    if not isinstance(table, dict):
        raise ValueError(f"normalisation: [{section}] must be a table")
    words = table.get(key, [])
    if not isinstance(words, list) or not all(
        isinstance(word, str) and _WORD.fullmatch(word) for word in words
    ):
        raise ValueError(
            f"normalisation: [{section}] {key} must be lower-case words without apostrophes"
        )
    return list(words)
