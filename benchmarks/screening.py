"""How long the risk screen takes on ordinary, huge and hostile messages (CPU seconds).

Every message a patient sends is screened before anything else, so the screen must stay fast
whatever arrives. Run: .venv/bin/python benchmarks/screening.py
"""

from __future__ import annotations

import random
import statistics
import time

from bot.safety.screening import default_lexicon

SAMPLE_WORDS = [
    "today",
    "I",
    "walked",
    "to",
    "the",
    "shops",
    "and",
    "back,",
    "paced",
    "it",
    "well,",
    "then",
    "rested;",
    "the",
    "physio",
    "said",
    "to",
    "keep",
    "going",
    "with",
    "the",
    "stretches",
    "and",
    "my",
    "sleep",
    "is",
    "a",
    "bit",
    "better",
    "this",
    "week",
    "thank",
    "you",
]


def everyday(length: int, seed: int = 7) -> str:
    """About `length` characters of everyday words and punctuation."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(SAMPLE_WORDS) + rng.choice(("", "", ",", ".", "!", "\n"))
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:length]


def cpu_seconds(text: str, repeats: int) -> list[float]:
    """CPU time of screen + wants_to_report, `repeats` times."""
    lexicon = default_lexicon()
    times = []
    for _ in range(repeats):
        started = time.process_time()
        lexicon.screen(text)
        lexicon.wants_to_report(text)
        times.append(time.process_time() - started)
    return times


def main() -> None:
    """Print median and worst CPU times per kind of message."""
    cases = {
        "a typical message (80 chars)": (everyday(80), 2000),
        "a long message (4,096 chars)": (everyday(4096), 200),
        "1,000,000 chars of everyday words": (everyday(1_000_000), 3),
        "1,000,000 chars ending in a crisis phrase": (
            everyday(1_000_000) + " I want to end my life",
            3,
        ),
        "100,000 repeated letters": ("a" * 100_000, 5),
        "100,000 emoji": ("😭" * 100_000, 5),
        "half a megabyte of negated phrases": ("i dont want to die. " * 25_000, 3),
    }
    print(f"lexicon {default_lexicon().version}")
    for name, (text, repeats) in cases.items():
        times = cpu_seconds(text, repeats)
        print(
            f"{name:<45} median {statistics.median(times) * 1000:9.3f} ms   "
            f"worst {max(times) * 1000:9.3f} ms"
        )


if __name__ == "__main__":
    main()
