"""One pass over a message that finds where any of many regular expressions match.

Used by the lexicon: every message is screened, so this must stay fast on a long diary and on a
million hostile characters alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from itertools import accumulate

from bot.safety.normalise import english_words

# Searching a message once per pattern is too slow for hundreds of patterns. Instead every
# pattern's possible literal beginnings are worked out once ('(?:want|need) to die' begins
# "want to " or "need to "), and filed by their first word and the start of their second. A
# message is then read word by word: only where a filed beginning is found are the patterns
# that can begin there tried, in file order, and the first that matches counts. Messages are
# normalised first, so words are separated by single spaces and patterns begin at a word.

# Expanding one pattern into more beginnings than this gains nothing; it is tried at every word.
_EXPANSION_LIMIT = 4000
# Literal characters to expand each pattern's beginning to, trying shorter if that is too many.
_LEADS = (8, 4, 1)
_QUANTIFIERS = ("?", "*", "+", "{")
_CACHE_SIZE = 100_000
# The log-likelihood given to a word the dictionary does not know (rarer than any it does).
_RARE = -20.0


class Scanner:
    """Where any of many patterns match, and the lowest-numbered one there, in one pass."""

    def __init__(
        self, patterns: Sequence[re.Pattern[str]], gates: Sequence[str] | None = None
    ) -> None:
        """`gates`: for each pattern, an equivalent regex whose literal beginnings and anchor
        words are read (the pattern's own source when not given)."""
        self.patterns = tuple(patterns)
        sources = list(gates) if gates is not None else [p.pattern for p in patterns]
        # first word -> (start of the second word, or "" for any, -> pattern indices)
        self._whole: dict[str, dict[str, set[int]]] = {}
        # start of the first word (no space yet) -> pattern indices
        self._partial: dict[str, set[int]] = {}
        self._anywhere: set[int] = set()  # patterns that may begin at any word
        # A word every match of a pattern must contain somewhere (or a word beginning): the
        # rarest such that can be found. A message without it is not tried with the pattern.
        self._anchor_words: dict[str, set[int]] = {}
        self._anchor_starts: dict[str, set[int]] = {}
        self._unanchored: set[int] = set()
        for index, source in enumerate(sources):
            anchors = _anchors(source)
            if anchors is None:
                self._unanchored.add(index)
            else:
                for word, whole in anchors[0]:
                    table = self._anchor_words if whole else self._anchor_starts
                    table.setdefault(word, set()).add(index)
            starts = _beginnings(source)
            if starts is None:
                self._anywhere.add(index)
                continue
            for start in starts:
                first, space, rest = start.partition(" ")
                if space:
                    second = rest.partition(" ")[0]
                    self._whole.setdefault(first, {}).setdefault(second, set()).add(index)
                else:
                    self._partial.setdefault(first, set()).add(index)
        self._partial_lengths = sorted({len(start) for start in self._partial})
        self._seconds = {
            first: sorted({len(second) for second in seconds})
            for first, seconds in self._whole.items()
        }
        self._anchor_keys = frozenset(self._anchor_words)
        # For each pattern, the first words its beginnings have (to skip other words).
        self._first_words: list[set[str]] = [set() for _ in self.patterns]
        for first, seconds in self._whole.items():
            for indices in seconds.values():
                for index in indices:
                    self._first_words[index].add(first)
        self._beginning_set = frozenset({*self._partial, *self._anchor_starts})
        self._lengths = sorted({len(start) for start in self._beginning_set})
        self._seen_prefixes: dict[str, frozenset[str]] = {}
        self._cache: dict[frozenset[int], tuple[int, ...]] = {}
        # Pairs of words recur: what can begin at them is worked out once.
        self._candidates = lru_cache(maxsize=_CACHE_SIZE)(self._find_candidates)

    @property
    def tried_everywhere(self) -> tuple[int, ...]:
        """The patterns with no literal beginning to file, tried at every word of every message."""
        return tuple(sorted(self._anywhere))

    def matches(self, plain: str) -> Iterator[tuple[int, int, int]]:
        """(lowest-numbered pattern index, start, end) for each start where a pattern matches."""
        # The others there could only rank lower, and a negation, which depends on the start
        # alone, would apply to them all the same.
        patterns = self.patterns
        words = plain.split(" ")
        unique = set(words)
        # The beginnings of entries that the message's words begin with, by word.
        seen = self._seen_prefixes
        begun = {
            word: found
            for word in unique
            if (found := seen.get(word)) or (found is None and (found := self._prefixes(word)))
        }
        prefixes: set[str] = set().union(*begun.values())
        active = self._active(unique, prefixes)
        if not active:
            return
        # Only words that can begin an active pattern are looked at.
        if self._anywhere & active:
            starters = unique
        else:
            starters = unique & set().union(*(self._first_words[index] for index in active))
            partial = prefixes.intersection(self._partial)
            if partial:
                starters |= {word for word, found in begun.items() if not partial.isdisjoint(found)}
        offsets = list(accumulate([len(word) + 1 for word in words], initial=0))
        last = len(words) - 1
        for position in [at for at, word in enumerate(words) if word in starters]:
            following = words[position + 1] if position < last else ""
            here = offsets[position]
            for index in self._candidates(words[position], following):
                if index in active and (matched := patterns[index].match(plain, here)):
                    yield index, here, matched.end()
                    break

    def _active(self, words: set[str], prefixes: set[str]) -> set[int]:
        """The patterns whose anchor word (or word beginning) is in the message."""
        active = set(self._unanchored)
        table = self._anchor_words
        for word in words & self._anchor_keys:
            active |= table[word]
        starts = self._anchor_starts
        for beginning in prefixes.intersection(starts):
            active |= starts[beginning]
        return active

    def _prefixes(self, word: str) -> frozenset[str]:
        """The beginnings of entries (partial first words, anchor word beginnings) that this
        word begins with; remembered (forgotten all at once when there are too many)."""
        found = (
            frozenset(
                word[:length]
                for length in self._lengths
                if length <= len(word) and word[:length] in self._beginning_set
            )
            if word
            else _NO_WORDS
        )
        if len(self._seen_prefixes) >= _CACHE_SIZE:
            self._seen_prefixes.clear()
        self._seen_prefixes[word] = found
        return found

    def next_match(self, plain: str, start: int, after: int) -> tuple[int, int] | None:
        """(index, end) of the lowest-numbered pattern after `after` matching at `start`."""
        # Rarely needed (an entry set aside by its `unless`).
        word, _, rest = plain[start:].partition(" ")
        for index in self._candidates(word, rest.partition(" ")[0]):
            if index > after and (found := self.patterns[index].match(plain, start)):
                return index, found.end()
        return None

    def _find_candidates(self, word: str, following: str) -> tuple[int, ...]:
        """The patterns that can begin at this word (given the next), in order."""
        found: set[int] = set()
        seconds = self._whole.get(word)
        if seconds is not None:
            for length in self._seconds[word]:
                found |= seconds.get(following[:length], _EMPTY) if length else seconds[""]
        for length in self._partial_lengths:
            if length > len(word):
                break
            found |= self._partial.get(word[:length], _EMPTY)
        if not found and not self._anywhere:
            return ()
        key = frozenset(found)
        ordered = self._cache.get(key)
        if ordered is None:
            ordered = self._cache[key] = tuple(sorted(found | self._anywhere))
        return ordered


_EMPTY: frozenset[int] = frozenset()
_NO_WORDS: frozenset[str] = frozenset()


Anchors = tuple[list[tuple[str, bool]], int]


def _anchors(source: str) -> Anchors | None:
    """The rarest set of words one of which every match of `source` contains, as (word,
    whole) where `whole` is False for a word beginning ("suicid"), and how many words at most
    come before it in a match. None when none can be found."""
    alternatives = _split_alternatives(source)
    if len(alternatives) > 1:
        found: set[tuple[str, bool]] = set()
        reach = 0
        for alternative in alternatives:
            each = _anchors(alternative)
            if each is None:
                return None
            found.update(each[0])
            reach = max(reach, each[1])
        return sorted(found), reach
    items = _items(source)
    best: Anchors | None = None
    best_cost = math.inf
    for index, (_item, optional) in enumerate(items):
        if optional or not _word_aligned(items, index):
            continue
        starts = _literal_starts("".join(text for text, _ in items[index:]))
        if not starts:
            continue
        words: set[tuple[str, bool]] = set()
        for start in starts:
            first, space, _rest = start.partition(" ")
            words.add((first, bool(space)))
        if any(not word for word, _whole in words):
            continue  # begins with a space: not a word
        cost = sum(_commonness(word, whole) for word, whole in words)
        before = _most_words("".join(text for text, _ in items[:index]))
        if cost < best_cost and before is not None:
            best, best_cost = (sorted(words), before), cost
    return best


def _most_words(source: str) -> int | None:
    """The most spaces a match of `source` can contain (words it can run over), or None if
    there is no limit."""
    alternatives = _split_alternatives(source)
    if len(alternatives) > 1:
        counts = [_most_words(alternative) for alternative in alternatives]
        return None if None in counts else max(c for c in counts if c is not None)
    total = 0
    index = 0
    while index < len(source):
        if source.startswith("(", index):
            end = _group_end(source[index:])
            if end is None:
                return None
            group = source[index : index + end]
            inner = 0 if group.startswith(("(?=", "(?!", "(?<")) else _most_words(group[3:-1])
            index += end
        else:
            end = _skip(source, index)
            piece = source[index:end]
            inner = 1 if piece == " " or (piece.startswith("[") and _may_be_space(piece)) else 0
            index = end
        times = _most_times(source[index:])
        if inner is None or (times is None and inner):
            return None
        index += len(_QUANTIFIER.match(source, index)[0])  # type: ignore[index]
        total += inner * times if inner and times else 0
    return total


_QUANTIFIER = re.compile(r"(?:\?|\*|\+|\{\d+(?:,\d*)?\})?\??")


def _most_times(rest: str) -> int | None:
    """How many times at most the quantifier at the start of `rest` repeats (None: no limit)."""
    found = re.match(r"\?|\*|\+|\{(\d+)(?:,(\d*))?\}", rest)
    if found is None:
        return 1
    if found[0] == "?":
        return 1
    if found[0] in ("*", "+") or found[2] == "":
        return None
    return int(found[2] or found[1])


def _may_be_space(character_class: str) -> bool:
    """Whether a character class such as '[^ ]' or '[a-z ]' can match a space."""
    body = character_class[1:-1]
    if body.startswith("^"):
        return " " not in body
    return " " in body


def _items(source: str) -> list[tuple[str, bool]]:
    """The top-level items of a regex in order, each with whether it may be absent."""
    items: list[tuple[str, bool]] = []
    index = 0
    while index < len(source):
        if source.startswith("(", index):
            end = _group_end(source[index:])
            if end is None:
                return [(source, False)]
            end += index
        else:
            end = _skip(source, index)
        quantifier = re.match(r"\?|\*|\+|\{(\d+)(?:,\d*)?\}", source[end:])
        optional = False
        if quantifier:
            minimum = quantifier[1]
            optional = quantifier[0] in ("?", "*") or minimum == "0"
            end += len(quantifier[0])
            if quantifier[0].startswith("{") or quantifier[0] == "+":
                optional = optional or True  # a repeat: read only as a gap, never an anchor
            if end < len(source) and source[end] == "?":
                end += 1
        items.append((source[index:end], optional))
        index = end
    return items


def _word_aligned(items: list[tuple[str, bool]], index: int) -> bool:
    """Whether the item at `index` begins a word (after \\b, a space or a gap of words)."""
    if index == 0:
        return True
    previous = items[index - 1][0]
    return (
        previous.endswith((" ", r"\b"))
        or bool(re.fullmatch(r"\(\?:\[\^ \]\+ \)\{0,\d+\}", previous))
        or previous.startswith("(?<")
        or previous == r"\b"
    )


def _commonness(word: str, whole: bool) -> float:
    """How often a word (or word beginning) turns up in English: the higher, the worse an
    anchor it makes. Short beginnings ("k") match too many words to help."""
    if not whole and len(word) < 4:
        return 1.0
    return math.exp(english_words().get(word, _RARE))


def _beginnings(source: str) -> list[str] | None:
    """The literal beginnings of every match of `source` (each alternative of a top-level
    'a|b' on its own), or None when some match may begin anywhere."""
    starts: list[str] = []
    for alternative in _split_alternatives(source):
        body, at_boundary = _after_assertions(alternative)
        found = _literal_starts(body) if at_boundary else None
        if found is None:
            return None
        starts += found
    return starts


def _after_assertions(source: str) -> tuple[str, bool]:
    """`source` without its leading look-arounds and \\b, and whether it had the \\b."""
    # The gate only has to let every real match through: the exact match afterwards still
    # applies the look-arounds, so leaving them out of the gate is safe. (A look-ahead left in
    # would make the pattern one tried at every word of every message.)
    at_boundary = False
    while True:
        if source.startswith(r"\b"):
            source, at_boundary = source[2:], True
        elif (
            source.startswith(("(?<=", "(?<!", "(?=", "(?!"))
            and (end := _group_end(source)) is not None
        ):
            source = source[end:]
        else:
            return source, at_boundary


def _literal_starts(source: str) -> list[str] | None:
    """The literal beginnings every match of `source` starts with one of, or None if unsure."""
    # '(?:want|need) (?:to )?die' becomes ['want to ', 'want die', 'need to ', 'need die']:
    # the longer the beginnings, the sooner the gate turns a position down. The gate only has
    # to let every real match through; each pattern is then tried whole.
    for lead in _LEADS:
        starts = _expand(source, lead)
        if starts is not None:
            return starts
    return None


def _expand(source: str, lead: int) -> list[str] | None:
    """The literal beginnings (of `lead` characters where the pattern allows) of `source`."""
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
            # Finish the word it is in, so that whole words can be looked up.
            while text[:1].isalnum() and text[1:2] not in _QUANTIFIERS and prefix[-1:] != " ":
                prefix, text = prefix + text[0], text[1:]
            # A word that ends here (a space, \b or the end follows) is a whole word.
            whole = not text or (text.startswith((" ", "\\b")) and prefix[-1:] != " ")
            done.append(prefix + " " if whole and not prefix.endswith(" ") else prefix)
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
        elif (characters := _class_characters(text)) is not None:
            done += [prefix + character for character in characters]
        elif prefix or (literal and follower == "+"):
            done.append(prefix or text[0])  # stop expanding: it already begins with a literal
        else:
            return None
    return done


def _class_characters(text: str) -> list[str] | None:
    """The characters of a small class like '[0-9]' that `text` begins with, if it must match
    at least once there; else None."""
    found = re.match(r"\[([a-z0-9-]{1,12})\](?:\{([1-9])(?:,[0-9]*)?\}|\+)?(?![?*]|\{0)", text)
    if found is None:
        return None
    characters: list[str] = []
    body = found[1]
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            characters += [chr(c) for c in range(ord(body[index]), ord(body[index + 2]) + 1)]
            index += 3
        else:
            characters.append(body[index])
            index += 1
    return characters


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
