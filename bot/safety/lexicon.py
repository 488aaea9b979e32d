"""Layer 2 of the risk screen: the clinician-reviewed lexicon of concepts and proximity rules.

The lexicon (content/safety/risk_lexicon.toml) is clinical data; this module checks it, compiles
it and finds its entries in a normalised message. Errors name lexicon entries, never what a
patient wrote.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bot.safety.normalise import checked_version
from bot.safety.scanner import Scanner

Level = Literal["crisis", "check"]
Concern = Literal["self", "others", "safeguarding", "someone-else"]
CONCERNS: tuple[Concern, ...] = ("self", "others", "safeguarding", "someone-else")

DEFAULT_LEXICON_PATH = (
    Path(__file__).resolve().parent.parent.parent / "content" / "safety" / "risk_lexicon.toml"
)

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_WORD = re.compile(r"[a-z0-9]+")
_PLAIN_WORD = re.compile(r"[a-z]+")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# "~3" between two terms: up to three words may stand between them.
_GAP = re.compile(r"(?<= )~([0-9]{1,2})(?= )")
_SPACED_GAP = re.compile(r" ~([0-9]{1,2}) ")
_GAP_MOST = 12
_TOP_LEVEL_KEYS = {"version", "concept", "negation", "attribution", "risk", "report"}
_CONCEPT_DEPTH = 4
# How far back to read for a negation. Longer words than this allows only mean fewer words are
# read, and so fewer phrases count as negated: the safe direction.
_LOOKBACK_CHARS = 160
# An entry's `unless` is looked for this many characters either side of what it matched.
_UNLESS_REACH = 100


@dataclass(frozen=True)
class Rule:
    """One lexicon entry with its patterns compiled: (as written, compiled)."""

    id: str
    level: Level | None  # None for a report intent
    concern: Concern | None  # None for a report intent
    # (as written, compiled for matching, the expanded regex the scanner's gate reads)
    patterns: tuple[tuple[str, re.Pattern[str], str], ...]
    unless: re.Pattern[str] | None = None
    # A check entry about death or injury, after which the classifier needs less confidence to
    # call a crisis (`near_crisis = true` in the file).
    near_crisis: bool = False


@dataclass(frozen=True)
class Entry:
    """One pattern of one rule, as the scanner numbers them."""

    rule: Rule
    source: str
    pattern: re.Pattern[str]
    gate: str


@dataclass(frozen=True)
class Hit:
    """Where an entry matched a normalised message, and whether a negation governs it."""

    entry: Entry
    start: int
    end: int
    negated: bool
    # The entry's rank: crisis entries first, then file order.
    index: int
    # Whose risk it is: the entry's concern, unless the phrase is said of someone else.
    concern: Concern | None = None

    @property
    def level(self) -> Level:
        """The entry's level, a negated crisis counting as a check."""
        level = self.entry.rule.level or "check"
        return "check" if self.negated else level


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


@dataclass(frozen=True)
class Attribution:
    """Whose risk a phrase is about (see [attribution] in the lexicon)."""

    others: frozenset[str] = frozenset()
    writer: frozenset[str] = frozenset()
    words_before: int = 0

    def about_someone_else(self, plain: str, start: int, end: int) -> bool:
        """Whether the phrase at start..end is said of someone else: it has no word for the
        writer, and the nearest person word before it (or in it) is someone else's."""
        inside = plain[start:end].split()
        if any(word in self.writer for word in inside):
            return False
        if any(word in self.others for word in inside):
            return True
        before = plain[max(0, start - _LOOKBACK_CHARS) : start].split()
        for word in reversed(before[-self.words_before :] if self.words_before else []):
            if word in self.writer:
                return False
            if word in self.others:
                return True
        return False


class Lexicon:
    """The risk lexicon, validated and compiled once."""

    version: str

    def __init__(
        self,
        version: str,
        risks: Sequence[Rule],
        reports: Sequence[Rule] = (),
        negation: _Negation | None = None,
        concept_words: frozenset[str] = frozenset(),
        attribution: Attribution | None = None,
    ) -> None:
        self.version = version
        self.concept_words = concept_words
        self.attribution = attribution or Attribution()
        # Crisis entries first, then check entries, each in file order: a lower index wins.
        ordered = [r for r in risks if r.level == "crisis"] + [
            r for r in risks if r.level != "crisis"
        ]
        self.risks = _entries(ordered)
        self.reports = _entries(reports)
        self.risk_scanner = Scanner(
            [entry.pattern for entry in self.risks], [entry.gate for entry in self.risks]
        )
        self.report_scanner = Scanner(
            [entry.pattern for entry in self.reports], [entry.gate for entry in self.reports]
        )
        self._negation = negation or _Negation()

    @classmethod
    def load(cls, path: Path = DEFAULT_LEXICON_PATH) -> Lexicon:
        """Read and check a lexicon file; any mistake is a ValueError naming the entry."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"risk lexicon {path.name}: not valid TOML: {error}") from None
        return _parse(data)

    def hits(self, marked: str) -> list[Hit]:
        """Every place a risk entry matches the normalised text (the first entry at each)."""
        return self._hits(self.risks, self.risk_scanner, marked, negate_crisis_only=True)

    def wants_to_report(self, marked: str) -> bool:
        """Whether the normalised text says the patient wants to tell the team about more pain
        or distress (a report intent that is not negated)."""
        return any(
            not hit.negated
            for hit in self._hits(
                self.reports, self.report_scanner, marked, negate_crisis_only=False
            )
        )

    def _hits(
        self,
        entries: Sequence[Entry],
        scanner: Scanner,
        marked: str,
        negate_crisis_only: bool,
    ) -> list[Hit]:
        plain = marked.replace("\n", " ")
        found: list[Hit] = []
        for first, start, first_end in scanner.matches(plain):
            index: int | None = first
            end = first_end
            while index is not None and _set_aside(entries[index].rule, plain, start, end):
                following = scanner.next_match(plain, start, index)
                index, end = following if following is not None else (None, end)
            if index is None:
                continue
            entry = entries[index]
            negatable = not negate_crisis_only or entry.rule.level == "crisis"
            negated = negatable and self._negation.applies(marked, start)
            found.append(Hit(entry, start, end, negated, index, entry.rule.concern))
        return found


def _set_aside(rule: Rule, plain: str, start: int, end: int) -> bool:
    """Whether the rule's `unless` appears near what it matched."""
    if rule.unless is None:
        return False
    near = plain[max(0, start - _UNLESS_REACH) : end + _UNLESS_REACH]
    return rule.unless.search(near) is not None


def _entries(rules: Sequence[Rule]) -> tuple[Entry, ...]:
    """Every pattern of `rules`, numbered in order."""
    return tuple(
        Entry(rule, source, pattern, gate)
        for rule in rules
        for source, pattern, gate in rule.patterns
    )


# --- Loading and validation --------------------------------------------------------------------


def _parse(data: Mapping[str, Any]) -> Lexicon:
    """Build a Lexicon from parsed TOML, refusing anything that could silently miss a phrase."""
    version = checked_version(data, _TOP_LEVEL_KEYS, "risk lexicon")
    concepts = _parse_concepts(data.get("concept", {}))
    negation = _parse_negation(data.get("negation", {}))
    attribution = _parse_attribution(data.get("attribution", {}))
    seen: set[str] = set()
    risks = [_parse_rule(raw, "risk", concepts, seen) for raw in _array(data, "risk")]
    reports = [_parse_rule(raw, "report", concepts, seen) for raw in _array(data, "report")]
    if not risks:
        raise ValueError("risk lexicon: no [[risk]] entries")
    words = frozenset(
        word
        for words in concepts.values()
        for word in words.split("|")
        if _PLAIN_WORD.fullmatch(word)
    )
    for name, value in concepts.items():
        _expand(value, concepts, f"risk lexicon: [concept.{name}]")  # unused ones are checked too
    return Lexicon(version, risks, reports, negation, words, attribution)


def _array(data: Mapping[str, Any], key: str) -> list[Any]:
    """The [[key]] array of tables, or an empty list."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"risk lexicon: `{key}` must be written as [[{key}]] tables")
    return value


def _parse_concepts(raw: Any) -> dict[str, str]:
    """The [concept.name] word lists that {name} in a pattern refers to, each as one regex."""
    if not isinstance(raw, dict):
        raise ValueError("risk lexicon: [concept] must be a table of [concept.name] tables")
    concepts: dict[str, str] = {}
    for name, table in raw.items():
        where = f"risk lexicon: [concept.{name}]"
        if not re.fullmatch(r"[a-z_]+", name) or not isinstance(table, dict):
            raise ValueError(f"{where}: the name must be a-z_ and the concept a table")
        extra = set(table) - {"note", "words"}
        if extra:
            raise ValueError(f"{where}: unknown keys {sorted(extra)}")
        if not isinstance(table.get("note"), str) or not table["note"].strip():
            raise ValueError(f"{where}: needs a `note` saying what it means, for clinicians")
        words = table.get("words")
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(word, str) and word for word in words)
        ):
            raise ValueError(f"{where}: `words` must be a non-empty list of texts")
        concepts[name] = "|".join(words)
    return concepts


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


def _parse_attribution(raw: Any) -> Attribution:
    """The [attribution] word lists."""
    if not isinstance(raw, dict):
        raise ValueError("risk lexicon: [attribution] must be a table")
    extra = set(raw) - {"note", "words_before", "others", "writer"}
    if extra:
        raise ValueError(f"risk lexicon: [attribution] has unknown keys {sorted(extra)}")
    words_before = raw.get("words_before", 0)
    if not isinstance(words_before, int) or not 0 <= words_before <= 12:
        raise ValueError("risk lexicon: [attribution] words_before must be a whole number 0 to 12")
    lists: dict[str, frozenset[str]] = {}
    for key in ("others", "writer"):
        words = raw.get(key, [])
        if not isinstance(words, list) or not all(
            isinstance(word, str) and _WORD.fullmatch(word) for word in words
        ):
            raise ValueError(f"risk lexicon: [attribution] {key} must be single lower-case words")
        lists[key] = frozenset(words)
    return Attribution(lists["others"], lists["writer"], words_before)


def _parse_rule(raw: Any, kind: str, concepts: Mapping[str, str], seen: set[str]) -> Rule:
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
    allowed = {"id", "note", "patterns", "unless"}
    if kind == "risk":
        allowed |= {"level", "concern", "near_crisis"}
    extra = set(raw) - allowed
    if extra:
        raise ValueError(f"{where}: unknown keys {sorted(extra)}")
    if not isinstance(raw.get("note"), str) or not raw["note"].strip():
        raise ValueError(f"{where}: needs a `note` saying why, for clinicians")
    level: Level | None = None
    concern: Concern | None = None
    if kind == "risk":
        level = raw.get("level")
        if level not in ("crisis", "check"):
            raise ValueError(f"{where}: unknown level {level!r} (use 'crisis' or 'check')")
        concern = raw.get("concern")
        if concern not in CONCERNS:
            raise ValueError(f"{where}: unknown concern {concern!r} (use one of {CONCERNS})")
    compiled = [
        (source, *_compile(source, concepts, where)) for source in _texts(raw, "patterns", where)
    ]
    unless = None
    if "unless" in raw:
        sources = _texts(raw, "unless", where)
        unless = _compile("|".join(f"(?:{source})" for source in sources), concepts, where)[0]
    near_crisis = raw.get("near_crisis", False)
    if not isinstance(near_crisis, bool) or (near_crisis and level != "check"):
        raise ValueError(f"{where}: `near_crisis` is true or false, and only for a check entry")
    return Rule(rule_id, level, concern, tuple(compiled), unless, near_crisis)


def _texts(raw: Mapping[str, Any], key: str, where: str) -> list[str]:
    """A non-empty list of non-empty texts."""
    sources = raw.get(key)
    if (
        not isinstance(sources, list)
        or not sources
        or not all(isinstance(source, str) and source for source in sources)
    ):
        raise ValueError(f"{where}: `{key}` must be a non-empty list of texts")
    return sources


def _expand(source: str, concepts: Mapping[str, str], where: str, depth: int = 0) -> str:
    """`source` with every {name} replaced by its concept's words, concepts within concepts too."""
    if depth > _CONCEPT_DEPTH:
        raise ValueError(f"{where}: concepts nest more than {_CONCEPT_DEPTH} deep (a loop?)")

    def expand(placeholder: re.Match[str]) -> str:
        name = placeholder[1]
        if name not in concepts:
            raise ValueError(f"{where}: {{{name}}} is not a [concept.{name}]")
        return f"(?:{_expand(concepts[name], concepts, where, depth + 1)})"

    return _PLACEHOLDER.sub(expand, source)


def _compile(source: str, concepts: Mapping[str, str], where: str) -> tuple[re.Pattern[str], str]:
    """Expand concepts and gaps, refuse what could never match or could be slow, compile; also
    the expanded regex before its word groups were made tries (the scanner's gate reads it)."""
    expanded = _expand(source, concepts, where)
    for gap in _GAP.finditer(expanded):
        if not 1 <= int(gap[1]) <= _GAP_MOST:
            raise ValueError(f"{where}: pattern {source!r}: a gap is ~1 to ~{_GAP_MOST}")
    problem = _lint(_GAP.sub("gap", expanded))
    if problem:
        raise ValueError(f"{where}: pattern {source!r}: {problem}")
    # "a ~3 b" becomes "a (?:[^ ]+ ){0,3}b": up to three words, each with its space.
    gate = _SPACED_GAP.sub(lambda gap: f" (?:[^ ]+ ){{0,{gap[1]}}}", expanded)
    regex = _tries(gate)
    try:
        pattern = re.compile(regex)
    except re.error as error:
        raise ValueError(f"{where}: pattern {source!r}: bad regular expression: {error}") from None
    if any(
        match.end() == match.start()
        for text in ("", "a", "a b")
        for match in pattern.finditer(text)
    ):
        raise ValueError(
            f"{where}: pattern {source!r}: matches an empty message, so it would flag every message"
        )
    return pattern, gate


# A group of alternatives that are all plain words: "(?:hits|hit|hurts)".
_PLAIN_GROUP = re.compile(r"\(\?:((?:[a-z0-9 ]+\|)+[a-z0-9 ]+)\)")


def _tries(regex: str) -> str:
    """`regex` with each group of plain alternatives rewritten as a trie ("h(?:it(?:s)?|urts)"):
    the same matches, found without trying a hundred words one after another at each place."""
    return _PLAIN_GROUP.sub(lambda group: f"(?:{_trie(group[1].split('|'))})", regex)


def _trie(words: list[str]) -> str:
    """One regex for a set of literal words, sharing their beginnings."""
    branches: dict[str, list[str]] = {}
    ends = False
    for word in dict.fromkeys(words):
        if word:
            branches.setdefault(word[0], []).append(word[1:])
        else:
            ends = True
    parts = []
    for head, rests in branches.items():
        rest = _trie(rests)
        parts.append(head + (f"(?:{rest})" if "|" in rest or "?" in rest[-1:] else rest))
    body = "|".join(parts)
    if ends:
        return f"(?:{body})?" if body else ""
    return body


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
            " (write dont) and other punctuation becomes a space (write 'self harm'); a gap"
            " between words is written ' ~3 '"
        )
    return None
