"""The risk screen on messages it was not tuned on: recall per class, false alarms, and speed.

Run: .venv/bin/python benchmarks/screening.py [--part heldout|blind|train] [--misses]

The held-out part (content/safety/corpus/heldout/) was written before any tuning, by writers who
had not seen the lexicon, and is never trained or tuned on; `blind/` was written the same way
after the screen was built. Misses are listed only for the training part: reading the held-out
misses while changing the lexicon would turn it into training data.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from bot.safety import corpus
from bot.safety.corpus import CLASSES, Example
from bot.safety.screening import Screen, Screening, default_screen

LONG = 4096


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", default="heldout", choices=("heldout", "blind", "train"))
    parser.add_argument("--misses", action="store_true", help="list misses (train part only)")
    args = parser.parse_args()
    started = time.perf_counter()
    screen = default_screen()  # as the bot loads it
    gc.collect()
    gc.freeze()  # as `pmp run` does once loaded: collections no longer walk the screen
    loaded = time.perf_counter() - started
    lexicon_only = Screen(screen.normaliser, screen.lexicon, None)
    examples = corpus.load(args.part)
    print(f"screen {screen.version}; loaded in {loaded:.2f} s")
    print(f"corpus part '{args.part}': {len(examples)} messages\n")
    for title, used in (("lexicon alone", lexicon_only), ("lexicon + classifier", screen)):
        results = [used.screen(example.text) for example in examples]
        print(f"== {title}")
        report(examples, results)
        print()
    if args.misses:
        if args.part != "train":
            parser.error("misses are listed only for the training part: never tune on held-out")
        list_misses(examples, [screen.screen(example.text) for example in examples])
    timings(screen, examples)


def report(examples: Sequence[Example], results: Sequence[Screening]) -> None:
    """Per class and per level: how each message was screened."""
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    concern_right: Counter[str] = Counter()
    for example, result in zip(examples, results, strict=True):
        by_class[example.cls][result.verdict] += 1
        if example.level == "crisis" and result.verdict == "crisis":
            concern_right[example.cls] += result.concern == example.concern
    print(f"{'class':16} {'n':>4}  {'crisis':>7} {'check':>7} {'none':>7}  concern right")
    for cls, level in CLASSES.items():
        counts = by_class.get(cls)
        if not counts:
            continue
        n = sum(counts.values())
        concern = f"{concern_right[cls]}/{counts['crisis']}" if level == "crisis" else ""
        print(
            f"{cls:16} {n:>4}  {_pct(counts['crisis'], n):>7} {_pct(counts['check'], n):>7} "
            f"{_pct(counts['none'], n):>7}  {concern}"
        )
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for example, result in zip(examples, results, strict=True):
        totals[example.level][result.verdict] += 1
    crisis, check, none = totals["crisis"], totals["check"], totals["none"]
    print(
        f"crisis messages: {_pct(crisis['crisis'], sum(crisis.values()))} as crisis, "
        f"{_pct(crisis['none'], sum(crisis.values()))} silent (n={sum(crisis.values())})"
    )
    print(
        f"ambiguous messages: {_pct(check['crisis'] + check['check'], sum(check.values()))} "
        f"caught (n={sum(check.values())})"
    )
    print(
        f"ordinary messages: {_pct(none['crisis'] + none['check'], sum(none.values()))} flagged, "
        f"{_pct(none['crisis'], sum(none.values()))} as crisis (n={sum(none.values())})"
    )


def list_misses(examples: Sequence[Example], results: Sequence[Screening]) -> None:
    """Every training message screened below (or, if ordinary, above) its label."""
    rank = {"none": 0, "check": 1, "crisis": 2}
    for example, result in zip(examples, results, strict=True):
        wrong = (
            rank[result.verdict] < rank[example.level]
            if example.level != "none"
            else result.verdict != "none"
        )
        if wrong:
            print(f"[{example.level}->{result.verdict} {result.matched}] {example.text[:200]!r}")


def timings(screen: Screen, examples: Sequence[Example]) -> None:
    """Time per message: the corpus as written, 4,096-character messages, hostile input."""
    rng = random.Random(7)
    training = corpus.load("train")
    ordinary = [e.text for e in training if e.level == "none"]
    crisis = [e.text for e in training if e.level == "crisis" and len(e.text) < 200]
    pool = [example.text for example in training]
    cases = {
        "corpus messages as written": [example.text for example in examples],
        f"{LONG:,}-char diaries, one crisis sentence": [
            _diary(ordinary, crisis, rng) for _ in range(300)
        ],
        f"{LONG:,}-char ordinary diaries": [_long(ordinary, rng) for _ in range(300)],
        f"{LONG:,}-char runs of corpus messages": [_long(pool, rng) for _ in range(300)],
    }
    for title, report in (("the screen", False), ("the screen and the report question", True)):
        print(f"== time per message: {title} (CPU)")
        for name, texts in cases.items():
            _line(name, _cpu(screen, texts, repeats=3, report=report))
        print()
    print("== hostile input: the screen and the report question (CPU)")
    hostile = {
        "1,000,000 characters of corpus text": _long(pool, rng, 1_000_000),
        "100,000 repeated letters": "a" * 100_000,
        "100,000 emoji": "😭" * 100_000,
        "half a megabyte of negated phrases": "i dont want to die. " * 25_000,
    }
    for name, text in hostile.items():
        _line(name, _cpu(screen, [text], repeats=2, report=True))


def _diary(ordinary: Sequence[str], crisis: Sequence[str], rng: random.Random) -> str:
    """A 4,096-character pain diary of ordinary messages with one crisis sentence inside."""
    text = _long(ordinary, rng)
    middle = rng.randrange(len(text))
    return (text[:middle] + " " + rng.choice(crisis) + " " + text[middle:])[:LONG]


def _long(pool: Sequence[str], rng: random.Random, length: int = LONG) -> str:
    """About `length` characters of corpus messages run together."""
    parts: list[str] = []
    size = 0
    while size < length:
        part = rng.choice(pool)
        parts.append(part)
        size += len(part) + 1
    return " ".join(parts)[:length]


def _cpu(screen: Screen, texts: Sequence[str], repeats: int, report: bool) -> list[float]:
    """CPU seconds per text, fresh each time (nothing remembered from a previous call)."""
    times: list[float] = []
    for repeat in range(repeats):
        for text in texts:
            varied = text + " " * (repeat + 1)  # a different text, so nothing is cached
            started = time.process_time()
            screen.screen(varied)
            if report:
                screen.wants_to_report(varied)
            times.append(time.process_time() - started)
    return times


def _line(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(
        f"{name:<42} mean {statistics.mean(times) * 1000:8.3f} ms   "
        f"p99 {p99 * 1000:8.3f} ms   max {ordered[-1] * 1000:8.3f} ms"
    )


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


if __name__ == "__main__":
    main()
