"""Layer 3 of the risk screen: a small linear classifier over character and word n-grams.

It is trained by `scripts/train-screen` (scikit-learn, bot/safety/training.py) from the invented
corpus in content/safety/corpus/train/, and saved as plain numbers in
content/safety/classifier.json.gz: no pickle, nothing executable, and scikit-learn is not needed
to run it. The screen uses it only to raise the lexicon's level, never to lower it.

The model is scikit-learn's TF-IDF (sublinear counts, each of the two parts scaled to length one)
of character n-grams within words and of word unigrams and bigrams, then logistic regression.
A long message is scored in overlapping windows of words, and the highest window counts, so one
sentence in a long diary is not drowned out by the rest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.safety.lexicon import CONCERNS, Concern

DEFAULT_CLASSIFIER_PATH = (
    Path(__file__).resolve().parent.parent.parent / "content" / "safety" / "classifier.json.gz"
)
FORMAT = 2
# The outputs, in the order of every weight row: two yes/no scores, then one per concern.
OUTPUTS = ("crisis", "flag", *CONCERNS)
# Long messages are scored in windows of this many words, one after another.
WINDOW_WORDS = 80
_CACHE_SIZE = 100_000
# More words than any vocabulary holds: a bigram's key is its first word's number times this.
_MOST_WORDS = 1 << 31
_NONE = np.zeros(0, dtype=np.int32)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Scores:
    """What the classifier makes of a message: the likelihood of crisis and of anything needing
    a person (crisis or check), and the likeliest concern."""

    crisis: float
    flag: float
    concern: Concern


@dataclass(frozen=True)
class _Part:
    """One TF-IDF part: its vocabulary, inverse document frequencies and weights."""

    vocabulary: dict[str, int]
    idf: Floats
    weights: Floats  # one row per feature, one column per output


class Classifier:
    """The trained weights, ready to score normalised text."""

    def __init__(
        self,
        version: str,
        char_sizes: tuple[int, int],
        bias: Floats,
        chars: _Part,
        words: _Part,
        crisis_threshold: float,
        check_threshold: float,
        crisis_after_check: float,
    ) -> None:
        self.version = version
        self.char_sizes = char_sizes
        self.bias = bias
        self.chars = chars
        self.words = words
        # One id space for both parts: character n-grams first, then word n-grams.
        self._first_word = len(chars.idf)
        self._idf = np.concatenate((chars.idf, words.idf))
        # Single precision: half the memory to gather from, and far closer than training is.
        self._weights = np.vstack((chars.weights, words.weights)).astype(np.float32)
        self.crisis_threshold = crisis_threshold
        self.check_threshold = check_threshold
        # After a lexicon check about death or injury, confidence above this is enough for
        # crisis (a file without it gets the crisis threshold: see from_json).
        self.crisis_after_check = crisis_after_check
        # Word bigrams as one sorted array of keys (first word's number times the number of
        # words, plus the second's), so a message's bigrams are looked up all at once.
        self._word_numbers: dict[str, int] = {}
        bigrams: dict[int, int] = {}
        for gram, index in words.vocabulary.items():
            first, space, second = gram.partition(" ")
            if space:
                key = self._number(first) * _MOST_WORDS + self._number(second)
                bigrams[key] = self._first_word + index
        keys = sorted(bigrams)
        self._bigram_keys = np.array(keys, dtype=np.int64)
        self._bigram_ids = np.array([bigrams[key] for key in keys], dtype=np.int32)
        self._seen: dict[str, tuple[bytes, int, int]] = {}
        # Every word the model knows is looked up now, at start, so a long message of common
        # words does not pay for them on the patient's turn.
        for gram in words.vocabulary:
            if " " not in gram:
                self._known(gram)

    @classmethod
    def load(cls, path: Path = DEFAULT_CLASSIFIER_PATH) -> Classifier:
        """Read a saved model; a missing, corrupt or mismatched file is a ValueError."""
        try:
            raw = path.read_bytes()
            data = json.loads(gzip.decompress(raw))
        except (OSError, EOFError, ValueError) as error:
            raise ValueError(f"classifier {path.name}: cannot be read: {error}") from None
        return from_json(data, hashlib.sha256(raw).hexdigest()[:8])

    def score(self, plain: str) -> Scores:
        """Scores of the normalised text (words split by single spaces); the highest window's."""
        outputs = self._outputs(plain.split(), WINDOW_WORDS)
        best = max(range(len(outputs)), key=lambda i: (outputs[i, 0], outputs[i, 1]))
        return self._scores(outputs[best])

    def decision(self, plain: str) -> Floats:
        """The raw outputs for the whole text as one window (to compare with the trainer's)."""
        words = plain.split()
        return np.asarray(self._outputs(words, max(len(words), 1))[0])

    def _outputs(self, words: list[str], window: int) -> Floats:
        """Raw outputs for each window of `window` words, one after another: each window's
        features counted (sublinear), weighted by idf, each part scaled to length one, times
        the weights, plus the bias."""
        count = max(1, -(-len(words) // window))
        cache = self._seen
        known = [cache.get(word) or self._known(word) for word in words]
        ids = np.frombuffer(b"".join([packed for packed, _length, _number in known]), np.int32)
        lengths = np.fromiter((length for _packed, length, _number in known), np.int32, len(known))
        windows = np.repeat(np.arange(len(words), dtype=np.int32) // window, lengths)
        # Bigrams: each at its first word's window, if the second word is in the same one.
        numbers = np.fromiter((number for _p, _l, number in known), np.int64, len(known))
        first, second = numbers[:-1], numbers[1:]
        together = (first >= 0) & (second >= 0) & (np.arange(1, len(known)) % window != 0)
        positions = np.flatnonzero(together)
        if len(positions) and len(self._bigram_keys):
            keys = first[positions] * _MOST_WORDS + second[positions]
            at = np.minimum(np.searchsorted(self._bigram_keys, keys), len(self._bigram_keys) - 1)
            known_pair = self._bigram_keys[at] == keys
            ids = np.concatenate((ids, self._bigram_ids[at[known_pair]]))
            windows = np.concatenate((windows, (positions[known_pair] // window).astype(np.int32)))
        outputs = np.tile(self.bias, (count, 1))
        if not len(ids):
            return outputs
        size = len(self._idf)
        unique, counts = np.unique(windows * size + ids, return_counts=True)
        where, feature = np.divmod(unique, size)
        values = (1.0 + np.log(counts)) * self._idf[feature]
        # Each window's character part and word part are scaled to length one separately.
        part = where * 2 + (feature >= self._first_word)
        norms = np.sqrt(np.bincount(part, weights=values * values, minlength=2 * count))
        values /= norms[part]
        # `unique` is sorted, so each window's features are one run: sum each run at once.
        starts = np.flatnonzero(np.concatenate((np.array([True]), where[1:] != where[:-1])))
        outputs[where[starts]] += np.add.reduceat(
            self._weights[feature] * values[:, None], starts, axis=0
        )
        return outputs

    def _number(self, word: str) -> int:
        """The number of a word found in a bigram, given the first time it is seen."""
        return self._word_numbers.setdefault(word, len(self._word_numbers))

    def _known(self, word: str) -> tuple[bytes, int, int]:
        """What the model knows of one word: its feature ids (character n-grams and its word
        unigram), packed, and how many; and its number in bigrams (-1 if in none).
        Remembered (a plain dict read inline is faster than a cache decorator); forgotten all
        at once when it grows too big, as hostile input of endless new words would make it."""
        ids = self._word_char_ids(word)
        unigram = self.words.vocabulary.get(word)
        if unigram is not None:
            ids = np.append(ids, np.int32(self._first_word + unigram))
        found = (ids.astype(np.int32).tobytes(), len(ids), self._word_numbers.get(word, -1))
        if len(self._seen) >= _CACHE_SIZE:
            self._seen.clear()
        self._seen[word] = found
        return found

    def _word_char_ids(self, word: str) -> Ints:
        """The in-vocabulary character n-grams of one word, as scikit-learn's 'char_wb' makes
        them: the word padded with a space each side; a word shorter than an n-gram counts once,
        whole."""
        vocabulary = self.chars.vocabulary
        padded = f" {word} "
        low, high = self.char_sizes
        found: list[int] = []
        for size in range(low, high + 1):
            last = max(len(padded) - size, 0)
            found += [vocabulary.get(padded[i : i + size], -1) for i in range(last + 1)]
            if last == 0:
                break
        return np.array([i for i in found if i >= 0], dtype=np.int32)

    def _scores(self, z: Floats) -> Scores:
        """Probabilities from raw outputs."""
        concerns = z[2:]
        return Scores(
            _sigmoid(float(z[0])), _sigmoid(float(z[1])), CONCERNS[int(np.argmax(concerns))]
        )


def _sigmoid(z: float) -> float:
    """The logistic function, safe at both ends."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def from_json(data: Any, version: str) -> Classifier:
    """A classifier from its saved form, checked so a damaged file cannot half-load."""
    try:
        if data["format"] != FORMAT or tuple(data["outputs"]) != OUTPUTS:
            raise ValueError("a different format or outputs")
        width = len(OUTPUTS)
        low, high = (int(size) for size in data["char_ngrams"])
        bias = _matrix([data["bias"]], width)[0]
        chars = _part(data["char"], width)
        words = _part(data["word"], width)
        thresholds = data["thresholds"]
        crisis, check = float(thresholds["crisis"]), float(thresholds["check"])
        after_check = float(thresholds.get("crisis_after_check", crisis))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ValueError(f"classifier: damaged or of another format: {error}") from None
    if not (1 <= low <= high <= 8) or not (0 < check < 1 and 0 < after_check <= crisis < 1):
        raise ValueError("classifier: n-gram sizes or thresholds out of range")
    return Classifier(version, (low, high), bias, chars, words, crisis, check, after_check)


def _part(raw: Any, width: int) -> _Part:
    """One part: {"vocabulary": [features...], "idf": [...], "weights": [[...], ...]}."""
    vocabulary = [str(feature) for feature in raw["vocabulary"]]
    idf = np.array(raw["idf"], dtype=np.float64)
    weights = _matrix(raw["weights"], width)
    if not vocabulary or len(idf) != len(vocabulary) or len(weights) != len(vocabulary):
        raise ValueError("a part whose vocabulary, idf and weights differ in length")
    if not np.all(np.isfinite(idf)):
        raise ValueError("idf not finite")
    return _Part({feature: i for i, feature in enumerate(vocabulary)}, idf, weights)


def _matrix(rows: Any, width: int) -> Floats:
    """Rows of `width` finite floats."""
    matrix = np.array(rows, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != width or not np.all(np.isfinite(matrix)):
        raise ValueError("weights of the wrong shape or not finite")
    return matrix
