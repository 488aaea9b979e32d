"""The invented, labelled messages the risk screen is trained and measured on.

content/safety/corpus/README.md explains the labels and the folders: `train/` (tuning and
training), `heldout/` and `blind/` (measuring only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

CORPUS_PATH = Path(__file__).resolve().parent.parent.parent / "content" / "safety" / "corpus"

Level = Literal["crisis", "check", "none"]
Part = Literal["train", "heldout", "blind"]
CLASSES: dict[str, Level] = {
    "explicit": "crisis",
    "means": "crisis",
    "preparation": "crisis",
    "self-harm": "crisis",
    "passive": "crisis",
    "spelling": "crisis",
    "attempt": "crisis",
    "others": "crisis",
    "safeguarding": "crisis",
    "someone-else": "crisis",
    "hopeless": "check",
    "idiom-risk": "check",
    "historic": "check",
    "medication-stop": "check",
    "negated": "check",
    "ordinary": "none",
    "idiom": "none",
    "medication": "none",
    "pain": "none",
}
CONCERNS = ("self", "others", "safeguarding", "someone-else", "none")


@dataclass(frozen=True)
class Example:
    """One invented message and its label."""

    text: str
    level: Level
    concern: str
    cls: str
    source: str  # file name, for reports


def load(part: Part, root: Path = CORPUS_PATH) -> list[Example]:
    """Every example of one part of the corpus, in file order; a bad line is a ValueError."""
    if part not in get_args(Part):
        raise ValueError(f"unknown corpus part {part!r}")
    examples: list[Example] = []
    for path in sorted((root / part).glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                examples.append(_example(line, f"{path.name}:{number}"))
    return examples


def _example(line: str, where: str) -> Example:
    """One line of a corpus file, checked."""
    try:
        row = json.loads(line)
        text, level, concern, cls = row["text"], row["level"], row["concern"], row["class"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"corpus {where}: not a labelled message: {error}") from None
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"corpus {where}: empty text")
    if (
        CLASSES.get(cls) != level
        or concern not in CONCERNS
        or (concern == "none") != (level == "none")
    ):
        raise ValueError(f"corpus {where}: class, level and concern do not agree")
    return Example(text, level, concern, cls, where)
