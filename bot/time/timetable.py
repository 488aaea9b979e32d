"""Where the doctor's session goes on its day when staff choose another time for it.

The doctor's session keeps its length and takes the place of the ordinary sessions that
fill exactly that time; they move, in their order, to where it was. The day's first session,
its breaks, the friends-and-family sessions and the finish stay where they are, so the day
starts, pauses and ends when everyone was told. Any other time is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from bot.time.times import hhmm, parse_clock

QA = "qa"
# Sessions the doctor's session never takes the place of (see content/timetable.toml), and why.
FIXED_KINDS = {
    "break": "is a break",
    "family": "is for friends and family, who are told its time,",
}


class TimetableClash(ValueError):
    """A time for the doctor's session that would not leave a workable day; says why."""


@dataclass(frozen=True)
class _Span:
    """A session with its start and end, in minutes after midnight."""

    start: int
    end: int
    session: dict[str, str]

    @property
    def when(self) -> str:
        return f"'{self.session['title']}' ({_clock(self.start)} to {_clock(self.end)})"


def _minutes(text: str) -> int:
    parsed = parse_clock(text) or time(0)
    return parsed.hour * 60 + parsed.minute


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _length(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    parts = ([f"{hours} hour" + ("s" if hours > 1 else "")] if hours else []) + (
        [f"{rest} minutes"] if rest else []
    )
    return " ".join(parts)


def place_qa(sessions: list[dict[str, str]], chosen: time) -> list[dict[str, str]]:
    """The day with the doctor's session starting at `chosen`; TimetableClash if it can't.

    `sessions` is the day as the timetable has it (the doctor's session at its usual time),
    in order, the last being the finish.
    """
    index = next((i for i, s in enumerate(sessions) if s.get("kind") == QA), None)
    if index is None:
        return sessions
    starts = [_minutes(s["time"]) for s in sessions]
    if index == len(sessions) - 1:
        raise TimetableClash("the timetable gives the doctor's session no end.")
    usual = _Span(starts[index], starts[index + 1], sessions[index])
    length = usual.end - usual.start
    at = chosen.hour * 60 + chosen.minute
    if at == usual.start:
        return sessions
    first, finish = sessions[0], starts[-1]
    if index != 0 and at <= starts[0]:
        raise TimetableClash(f"the day starts at {first['time']} with '{first['title']}'.")
    if at + length > finish:
        raise TimetableClash(
            f"the day finishes at {_clock(finish)} and the doctor's session lasts"
            f" {_length(length)}."
        )
    others = [_Span(starts[i], starts[i + 1], s) for i, s in enumerate(sessions[:-1]) if i != index]
    taken = [o for o in others if o.start < at + length and o.end > at]
    for other in taken:
        if other.start < at or other.end > at + length:
            raise TimetableClash(
                f"from {_clock(at)} to {_clock(at + length)} it would overlap {other.when}."
            )
    for other in taken:
        why = FIXED_KINDS.get(other.session.get("kind", ""))
        if why is not None:
            raise TimetableClash(f"{other.when} {why} and stays where it is.")
    if sum(o.end - o.start for o in taken) != length:
        raise TimetableClash(
            f"from {_clock(at)} to {_clock(at + length)} it would overlap its usual time"
            f" ({_clock(usual.start)} to {_clock(usual.end)})."
        )
    # The sessions it displaces take its usual place, in the order they had.
    moved: dict[int, str] = {}
    clock = usual.start
    for other in taken:
        moved[id(other.session)] = _clock(clock)
        clock += other.end - other.start
    placed = [
        {**s, "time": hhmm(chosen)} if i == index else {**s, "time": moved.get(id(s), s["time"])}
        for i, s in enumerate(sessions)
    ]
    return sorted(placed, key=lambda s: s["time"])


def qa_times(sessions: list[dict[str, str]]) -> list[str]:
    """Every start time ('HH:MM') the doctor's session could have on this day."""
    fits = []
    for candidate in sorted({s["time"] for s in sessions}):
        chosen = parse_clock(candidate)
        if chosen is None:
            continue
        try:
            place_qa(sessions, chosen)
        except TimetableClash:
            continue
        fits.append(candidate)
    return fits
