"""Screen a patient's message for risk language with the clinician-reviewed lexicon."""

# The lexicon (content/safety/risk_lexicon.toml) is clinical data; this module only normalises
# text and applies it. Nothing here logs or keeps a message's text: errors name lexicon entries,
# never what a patient wrote.

from __future__ import annotations

import html
import re
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["crisis", "check", "none"]
Level = Literal["crisis", "check"]

DEFAULT_LEXICON_PATH = (
    Path(__file__).resolve().parent.parent.parent / "content" / "safety" / "risk_lexicon.toml"
)

# --- Normalisation -------------------------------------------------------------------------------

_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
# Dropped before Unicode decomposition: NFKD turns the acute accent '´' into a space and a mark.
_APOSTROPHES = re.compile("['`´‘’‚‛′‵ʹʻʼʽˈ＇]")
# Invisible characters that can hide inside a word: soft hyphen, zero-width and joiners,
# text-direction marks and isolates, variation selectors, Hangul fillers, byte-order mark.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
# Combining accents left by NFKD, so "kíll" reads as "kill".
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Formatting tags only, so "<i want to die>" stays words; bounded, so a stray '<' costs little.
_HTML_TAG = re.compile(
    r"</?(?:a|b|i|u|s|em|strong|code|pre|span|p|br|div|del|ins|sub|sup|mark|small|big|font"
    r"|blockquote|h[1-6]|li|ul|ol|script|style|img|tg-spoiler|tg-emoji)"
    r"(?:\s[^<>=]{0,60}=[^<>]{0,200})?\s?/?>"
)
# Punctuation that ends a clause: a negation before it does not reach a phrase after it.
_CLAUSE_BREAK = re.compile("[.,;:!?()\\[\\]{}|\n\r\u0085\u2028\u2029\u2013\u2014\u2022]+")
# Everything else that is not part of a word; single spaces are left alone, which is faster.
_SEPARATOR = re.compile(r"[^\w\n ]|_")
_SPACES = re.compile(r"  +")
_SPACED_BREAK = re.compile(r" ?\n[ \n]*")
_STRETCHED = re.compile(r"(([^\W\d_])\2)\2+")


def _normalise_marked(text: str) -> str:
    """Normalised text with each clause break as one newline, every other separator one space."""
    text = _ENTITY.sub(_unescape, text)  # "I&#39;m" and "kill&nbsp;myself" read as typed
    text = _INVISIBLE.sub("", _APOSTROPHES.sub("", text))
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()
    text = _CLAUSE_BREAK.sub("\n", _HTML_TAG.sub(" ", text))
    text = _SPACES.sub(" ", _SEPARATOR.sub(" ", text))
    text = _SPACED_BREAK.sub("\n", text)
    # A function, not the template r"\1": Python 3.11 expands templates far more slowly.
    return _STRETCHED.sub(_first_group, text).strip(" \n")


def _unescape(entity: re.Match[str]) -> str:
    """The character an HTML entity stands for."""
    return html.unescape(entity[0])


def _first_group(match: re.Match[str]) -> str:
    """The first group of `match`: "ll" from "llll"."""
    return match[1]


def normalise(text: str) -> str:
    """The text the lexicon's patterns see: lower case, no apostrophes, words split by one space."""
    # Swapping each newline for a space keeps offsets equal to the marked text's.
    return _normalise_marked(text).replace("\n", " ")


# --- Result ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Screening:
    """What screening one message found, and which lexicon entry said so."""

    verdict: Verdict
    matched: str | None
    pattern: str | None = None

    @property
    def is_crisis(self) -> bool:
        """Whether to treat the message as a crisis now."""
        return self.verdict == "crisis"

    @property
    def needs_check(self) -> bool:
        """Whether a person should follow the message up: true for a crisis as well as a check."""
        # Code that only asks this question must still never let a crisis through.
        return self.verdict != "none"

    def to_json(self) -> dict[str, str | None]:
        """The verdict and entry id for storage; the pattern stays out of records."""
        return {"verdict": self.verdict, "matched": self.matched}


_NO_RISK = Screening("none", None)

# --- Lexicon ---------------------------------------------------------------------------------

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_WORD = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_TOP_LEVEL_KEYS = {"version", "define", "negation", "risk", "report"}
# How far back to read for a negation. Longer words than this allows only mean fewer words are
# read, and so fewer phrases count as negated: the safe direction.
_LOOKBACK_CHARS = 160


@dataclass(frozen=True)
class _Rule:
    """One lexicon entry with its patterns compiled: (as written, compiled)."""

    id: str
    level: Level | None  # None for a report intent
    patterns: tuple[tuple[str, re.Pattern[str]], ...]


@dataclass(frozen=True)
class _Entry:
    """One pattern of one rule, as the scanner numbers them."""

    rule: _Rule
    source: str
    pattern: re.Pattern[str]

    def screening(self, verdict: Verdict) -> Screening:
        """This pattern's finding, reported as `verdict`."""
        return Screening(verdict, self.rule.id, self.source)


@dataclass(frozen=True)
class _Negation:
    """When a negation cue governs the phrase that follows it (see [negation] in the lexicon)."""

    cues: frozenset[str] = frozenset()
    bridges: frozenset[str] = frozenset()
    words_before: int = 0

    def applies(self, marked: str, start: int) -> bool:
        """Whether a cue comes before the phrase at `start`, in its clause, over bridges only."""
        if not self.words_before:
            return False
        window = marked[max(0, start - _LOOKBACK_CHARS) : start]
        clause = window.rpartition("\n")[2]
        words = clause.split()
        if len(clause) == len(window) and start > _LOOKBACK_CHARS and words:
            words.pop(0)  # the window may have cut a longer word in two
        for word in reversed(words[-self.words_before :]):
            if word in self.cues:
                return True
            if word not in self.bridges:
                return False
        return False


class Lexicon:
    """The risk lexicon, validated and compiled once."""

    version: str

    def __init__(
        self,
        version: str,
        risks: Sequence[_Rule],
        reports: Sequence[_Rule] = (),
        negation: _Negation | None = None,
    ) -> None:
        self.version = version
        # Crisis entries first, then check entries, each in file order: a lower index wins.
        ordered = [r for r in risks if r.level == "crisis"] + [
            r for r in risks if r.level != "crisis"
        ]
        self._risks = _entries(ordered)
        self._first_check = sum(1 for entry in self._risks if entry.rule.level == "crisis")
        self._reports = _entries(reports)
        self._risk_scanner = _Scanner([entry.pattern for entry in self._risks])
        self._report_scanner = _Scanner([entry.pattern for entry in self._reports])
        self._negation = negation or _Negation()

    @classmethod
    def load(cls, path: Path = DEFAULT_LEXICON_PATH) -> Lexicon:
        """Read and check a lexicon file; any mistake is a ValueError naming the entry."""
        with path.open("rb") as file:
            try:
                data = tomllib.load(file)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"risk lexicon {path.name}: not valid TOML: {error}") from None
        return _parse(data)

    def screen(self, text: str) -> Screening:
        """The highest level any entry gives `text`; within a level, the first entry in the file."""
        marked = _normalise_marked(text)
        plain = marked.replace("\n", " ")
        none = len(self._risks)
        crisis = negated = check = none  # the lowest-numbered pattern found of each kind
        for index, start in self._risk_scanner.matches(plain):
            if index >= self._first_check:
                check = min(check, index)
            elif self._negation.applies(marked, start):
                negated = min(negated, index)
            else:
                crisis = min(crisis, index)
        if crisis < none:
            return self._risks[crisis].screening("crisis")
        if negated < none:
            # A negated crisis phrase ("I'm not suicidal") still deserves a person's check.
            return self._risks[negated].screening("check")
        if check < none:
            return self._risks[check].screening("check")
        return _NO_RISK

    def wants_to_report(self, text: str) -> bool:
        """Whether `text` says the patient wants to tell the team about more pain or distress."""
        marked = _normalise_marked(text)
        plain = marked.replace("\n", " ")
        return any(
            not self._negation.applies(marked, start)
            for _, start in self._report_scanner.matches(plain)
        )


def _entries(rules: Sequence[_Rule]) -> tuple[_Entry, ...]:
    """Every pattern of `rules`, numbered in order."""
    return tuple(
        _Entry(rule, source, pattern) for rule in rules for source, pattern in rule.patterns
    )


@cache
def default_lexicon() -> Lexicon:
    """The lexicon in content/safety/risk_lexicon.toml, loaded once per process."""
    return Lexicon.load()


# --- Scanning --------------------------------------------------------------------------------
#
# Searching a million characters once per pattern took seconds: Python's regex engine tries
# every position for a pattern that starts with \b. Instead one combined look-ahead, the gate,
# finds each position where some pattern matches. It shares leading letters between patterns
# (a trie: 'w(?:ant|ish)'), so most positions are turned down after a character or two. Only
# there are the patterns that can begin with those two characters tried, in file order, as one
# regex whose named groups say which matched.

# Expanding one pattern into more alternatives than this gains nothing; it is tried whole.
_EXPANSION_LIMIT = 400
# Literal characters to expand each pattern's beginning to, trying shorter if that is too many.
_LEADS = (8, 4, 1)
# Levels of shared leading characters in the gate.
_TRIE_DEPTH = 8
_QUANTIFIERS = ("?", "*", "+", "{")


class _Scanner:
    """Where any of many patterns match, and the lowest-numbered one there, in one pass."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        # Which patterns can begin with these one or two characters.
        by_head: dict[str, set[int]] = {}
        by_pair: dict[str, set[int]] = {}
        anywhere: set[int] = set()  # patterns the gate tries whole, at every position
        alternatives: list[str] = []
        for index, pattern in enumerate(patterns):
            body, at_boundary = _after_assertions(pattern.pattern)
            starts = _literal_starts(body) if at_boundary else None
            if starts is None:
                anywhere.add(index)
                continue
            alternatives += starts
            for start in starts:
                lead = _lead(start)
                (by_pair if len(lead) == 2 else by_head).setdefault(lead, set()).add(index)
        # For each beginning, the patterns it allows as one regex tried in order, each tagged
        # with a named group: a single match there finds the lowest-numbered pattern.
        self._by_head = {
            head: _ordered(patterns, indices | anywhere) for head, indices in by_head.items()
        }
        self._by_pair = {
            pair: _ordered(patterns, indices | by_head.get(pair[0], set()) | anywhere)
            for pair, indices in by_pair.items()
        }
        self._anywhere = _ordered(patterns, anywhere) if anywhere else None
        gate = [f"(?=(?:{patterns[index].pattern}))" for index in sorted(anywhere)]
        if alternatives:
            gate.append(rf"\b(?={_trie(alternatives, _TRIE_DEPTH)})")
        self._gate = _combine("|".join(gate)) if gate else None

    def matches(self, plain: str) -> Iterator[tuple[int, int]]:
        """(lowest-numbered pattern index, start) for each start where a pattern matches."""
        # The others there could only rank lower, and a negation, which depends on the start
        # alone, would apply to them all the same.
        if self._gate is None:
            return
        by_pair, by_head, anywhere = self._by_pair, self._by_head, self._anywhere
        for candidate in self._gate.finditer(plain):
            start = candidate.start()
            pair = plain[start : start + 2]
            ordered = by_pair.get(pair) or by_head.get(pair[:1], anywhere)
            found = ordered.match(plain, start) if ordered else None
            if found and found.lastgroup:
                yield int(found.lastgroup[1:]), start


def _ordered(patterns: Sequence[re.Pattern[str]], indices: set[int]) -> re.Pattern[str]:
    """One regex trying the given patterns in index order, each ending in the group 'p<index>'."""
    return _combine(
        "|".join(f"(?:{patterns[index].pattern})(?P<p{index}>)" for index in sorted(indices))
    )


def _combine(source: str) -> re.Pattern[str]:
    """Compile patterns joined for speed; the loader's checks make a failure unlikely."""
    try:
        return re.compile(source)
    except re.error as error:
        raise ValueError(f"risk lexicon: patterns cannot be combined: {error}") from None


def _after_assertions(source: str) -> tuple[str, bool]:
    """`source` without its leading look-behinds and \\b, and whether it had the \\b."""
    # The gate only has to let every real match through: the exact match afterwards still
    # applies the look-behinds, so leaving them out of the gate is safe.
    at_boundary = False
    while True:
        if source.startswith(r"\b"):
            source, at_boundary = source[2:], True
        elif source.startswith(("(?<=", "(?<!")) and (end := _group_end(source)) is not None:
            source = source[end:]
        else:
            return source, at_boundary


def _lead(alternative: str) -> str:
    """The one or two characters that every match of `alternative` begins with."""
    second = alternative[1:2]
    if (second.isalnum() or second == " ") and alternative[2:3] not in ("?", "*", "{"):
        return alternative[:2]
    return alternative[:1]


def _literal_starts(source: str) -> list[str] | None:
    """`source` as alternatives that each begin with literal characters, or None if unsure."""
    # '(?:want|need) (?:to )?die' becomes ['want to die', 'want die', 'need to die', 'need die'];
    # the longer the shared literal beginnings, the sooner the gate turns a position down.
    for lead in _LEADS:
        starts = _expand(source, lead)
        if starts is not None:
            return starts
    return None


def _expand(source: str, lead: int) -> list[str] | None:
    """Alternatives beginning with `lead` literal characters where the pattern allows, or None."""
    done: list[str] = []
    todo = [("", source)]  # (literal characters so far, rest of the pattern)
    while todo:
        if len(done) + len(todo) > _EXPANSION_LIMIT:
            return None
        prefix, text = todo.pop()
        literal = text[:1].isalnum() or text[:1] == " "
        follower = text[1:2]
        group_end = _group_end(text) if text.startswith("(?:") else None
        if len(prefix) >= lead:
            done.append(prefix + text)
        elif literal and follower not in _QUANTIFIERS:
            todo.append((prefix + text[0], text[1:]))
        elif literal and follower == "?" and text[2:3] not in _QUANTIFIERS:
            todo += [(prefix, text[2:]), (prefix + text[0], text[2:])]
        elif group_end is not None and text[group_end : group_end + 1] not in _QUANTIFIERS:
            todo += [(prefix, option + text[group_end:]) for option in _options(text, group_end)]
        elif (
            group_end is not None
            and text[group_end] == "?"
            and text[group_end + 1 : group_end + 2] not in _QUANTIFIERS
        ):
            rest = text[group_end + 1 :]
            todo += [(prefix, rest)] + [
                (prefix, option + rest) for option in _options(text, group_end)
            ]
        elif prefix or (literal and follower == "+"):
            done.append(prefix + text)  # stop expanding: it already begins with a literal
        else:
            return None
    return done


def _options(text: str, group_end: int) -> list[str]:
    """The alternatives inside the '(?:...)' group that `text` begins with."""
    return _split_alternatives(text[3 : group_end - 1])


def _skip(text: str, index: int) -> int:
    """The index after the escape or character class starting at `index`, else index + 1."""
    if text[index] == "\\":
        return index + 2
    if text[index] != "[":
        return index + 1
    index += 2 if text[index + 1 : index + 2] in ("^", "]") else 1
    while index < len(text) and text[index] != "]":
        index += 2 if text[index] == "\\" else 1
    return index + 1


def _group_end(text: str) -> int | None:
    """The index after the ')' closing the group that `text` starts with."""
    depth = 0
    index = 0
    while index < len(text):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index = _skip(text, index)
    return None


def _split_alternatives(text: str) -> list[str]:
    """`text` split at each '|' outside groups."""
    parts: list[str] = []
    depth = last = index = 0
    while index < len(text):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(text[last:index])
            last = index + 1
        index = _skip(text, index)
    return [*parts, text[last:]]


def _trie(alternatives: Sequence[str], depth: int) -> str:
    """One regex matching any of `alternatives`, sharing their leading literal characters."""
    groups: dict[str, list[str]] = {}
    others: list[str] = []
    for alternative in alternatives:
        head = alternative[:1]
        literal = head.isalnum() or head == " "
        if depth and literal and alternative[1:2] not in _QUANTIFIERS:
            groups.setdefault(head, []).append(alternative[1:])
        else:
            others.append(alternative)
    parts = [f"{re.escape(head)}(?:{_trie(rests, depth - 1)})" for head, rests in groups.items()]
    return "|".join(parts + [f"(?:{alternative})" for alternative in others])


# --- Loading and validation --------------------------------------------------------------------


def _parse(data: Mapping[str, Any]) -> Lexicon:
    """Build a Lexicon from parsed TOML, refusing anything that could silently miss a phrase."""
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise ValueError(f"risk lexicon: unknown top-level keys {sorted(unknown)}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ValueError("risk lexicon: `version` must be a non-empty string")
    defines = _parse_defines(data.get("define", {}))
    negation = _parse_negation(data.get("negation", {}))
    seen: set[str] = set()
    risks = [_parse_rule(raw, "risk", defines, seen) for raw in _array(data, "risk")]
    reports = [_parse_rule(raw, "report", defines, seen) for raw in _array(data, "report")]
    if not risks:
        raise ValueError("risk lexicon: no [[risk]] entries")
    return Lexicon(version, risks, reports, negation)


def _array(data: Mapping[str, Any], key: str) -> list[Any]:
    """The [[key]] array of tables, or an empty list."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"risk lexicon: `{key}` must be written as [[{key}]] tables")
    return value


def _parse_defines(raw: Any) -> dict[str, str]:
    """The [define] word lists that {name} in a pattern refers to."""
    if not isinstance(raw, dict):
        raise ValueError("risk lexicon: [define] must be a table")
    defines: dict[str, str] = {}
    for name, value in raw.items():
        if not re.fullmatch(r"[a-z_]+", name) or not isinstance(value, str) or not value:
            raise ValueError(
                f"risk lexicon: [define] {name!r} must be a-z_ naming a non-empty text"
            )
        defines[name] = value
    return defines


def _parse_negation(raw: Any) -> _Negation:
    """The [negation] cue and bridge words."""
    if not isinstance(raw, dict):
        raise ValueError("risk lexicon: [negation] must be a table")
    extra = set(raw) - {"words_before", "cues", "bridges"}
    if extra:
        raise ValueError(f"risk lexicon: [negation] has unknown keys {sorted(extra)}")
    words_before = raw.get("words_before", 0)
    if not isinstance(words_before, int) or not 0 <= words_before <= 12:
        raise ValueError("risk lexicon: [negation] words_before must be a whole number 0 to 12")
    lists: dict[str, frozenset[str]] = {}
    for key in ("cues", "bridges"):
        words = raw.get(key, [])
        if not isinstance(words, list) or not all(
            isinstance(word, str) and _WORD.fullmatch(word) for word in words
        ):
            raise ValueError(
                f"risk lexicon: [negation] {key} must be single lower-case words without"
                " apostrophes (dont, not don't)"
            )
        lists[key] = frozenset(words)
    return _Negation(lists["cues"], lists["bridges"], words_before)


def _parse_rule(raw: Any, kind: str, defines: Mapping[str, str], seen: set[str]) -> _Rule:
    """One [[risk]] or [[report]] entry, with every pattern compiled and checked."""
    if not isinstance(raw, dict):
        raise ValueError(f"risk lexicon: each [[{kind}]] must be a table")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise ValueError(
            f"risk lexicon: [[{kind}]] entry {rule_id!r}: id must be lower-case words and hyphens"
        )
    where = f"risk lexicon entry {rule_id!r}"
    if rule_id in seen:
        raise ValueError(f"{where}: duplicate id")
    seen.add(rule_id)
    allowed = {"id", "level", "note", "patterns"} if kind == "risk" else {"id", "note", "patterns"}
    extra = set(raw) - allowed
    if extra:
        raise ValueError(f"{where}: unknown keys {sorted(extra)}")
    level: Level | None = None
    if kind == "risk":
        level = raw.get("level")
        if level not in ("crisis", "check"):
            raise ValueError(f"{where}: unknown level {level!r} (use 'crisis' or 'check')")
        if not isinstance(raw.get("note"), str) or not raw["note"].strip():
            raise ValueError(f"{where}: needs a `note` saying why, for clinicians")
    sources = raw.get("patterns")
    if (
        not isinstance(sources, list)
        or not sources
        or not all(isinstance(source, str) and source for source in sources)
    ):
        raise ValueError(f"{where}: `patterns` must be a non-empty list of texts")
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for source in sources:
        try:
            compiled.append((source, _compile(source, defines)))
        except ValueError as error:
            raise ValueError(f"{where}: pattern {source!r}: {error}") from None
    return _Rule(rule_id, level, tuple(compiled))


def _compile(source: str, defines: Mapping[str, str]) -> re.Pattern[str]:
    """Expand {name} word lists, refuse what could never match or could be slow, compile."""

    def expand(placeholder: re.Match[str]) -> str:
        name = placeholder[1]
        if name not in defines:
            raise ValueError(f"{{{name}}} is not in [define]")
        return f"(?:{defines[name]})"

    expanded = _PLACEHOLDER.sub(expand, source)
    problem = _lint(expanded)
    if problem:
        raise ValueError(problem)
    try:
        pattern = re.compile(expanded)
    except re.error as error:
        raise ValueError(f"bad regular expression: {error}") from None
    if any(
        match.end() == match.start()
        for text in ("", "a", "a b")
        for match in pattern.finditer(text)
    ):
        raise ValueError("matches an empty message, so it would flag every message")
    return pattern


# Regex syntax to set aside before looking for characters that never reach the patterns.
_SYNTAX = re.compile(
    r"\\.|\[[^\]]*\]|\(\?(?:<[=!]|[=!:]|P<\w+>|P=\w+\))|\{\d+(?:,\d+)?\}|\(\?[a-z]+\)"
)
_PUNCTUATION = re.compile(r"""[-,;:!"/&#%@~<>=_'’‘`]""")


def _lint(expanded: str) -> str | None:
    """Why a pattern would silently never match or could take quadratic time, if it would."""
    if re.search(r"\(\?(?:P|\(|[aiLmsux])|\\[1-9]", expanded):
        # All patterns are combined into one for speed, where these would clash or change.
        return "uses a named group, back-reference, conditional or inline flag"
    if "*" in expanded:
        return "uses '*'; write a bounded repeat such as {0,3} so long messages stay fast"
    if re.search(r"\{(?!\d+(?:,\d+)?\})", expanded):
        return "uses '{' other than a bounded repeat like {0,2}, or an unknown {name}"
    if re.search(r"(?<![a-z0-9])\+", expanded):
        return "uses '+' other than straight after a letter ('die+'), which can be slow"
    bare = _SYNTAX.sub(" ", expanded)
    if re.search(r"[A-Z]", bare):
        return "has capital letters; messages are matched in lower case"
    punctuation = _PUNCTUATION.search(bare)
    if punctuation:
        return (
            f"has {punctuation[0]!r}, which never reaches the patterns: apostrophes are dropped"
            " (write dont) and other punctuation becomes a space (write 'self harm')"
        )
    return None
