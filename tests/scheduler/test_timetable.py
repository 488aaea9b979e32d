"""The doctor's session at a time staff chose: it swaps with whole sessions, or is refused."""

from __future__ import annotations

from datetime import time

import pytest

from bot.content import Content
from bot.time.timetable import TimetableClash, place_qa, qa_times

content = Content()


def day(number: int = 10, *, family_day: bool = False) -> list[dict[str, str]]:
    return content.day_sessions(number, qa_day=True, family_day=family_day)


def shown(sessions: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(s["time"], s["title"].split(" (")[0]) for s in sessions]


def test_at_its_own_time_nothing_changes() -> None:
    assert place_qa(day(), time(11, 30)) == day()


def test_it_swaps_with_the_session_that_fills_its_hour() -> None:
    assert shown(place_qa(day(), time(14, 0))) == [
        ("09:30", "Review of your home-practice action plan"),
        ("09:45", "Feedback from the thought challenge"),
        ("11:00", "Break"),
        ("11:30", "Trying out movement"),
        ("12:30", "Lunch"),
        ("13:30", "Relaxation"),
        ("14:00", "The doctor's question-and-answer session"),
        ("15:00", "Finish"),
    ]


def test_sessions_that_fill_its_hour_together_move_in_their_order() -> None:
    sessions = [
        {"time": "09:30", "title": "Welcome"},
        {"time": "10:00", "title": "Doctor", "kind": "qa"},
        {"time": "11:00", "title": "Stretching"},
        {"time": "11:20", "title": "Walking"},
        {"time": "12:00", "title": "Finish"},
    ]
    assert shown(place_qa(sessions, time(11, 0))) == [
        ("09:30", "Welcome"),
        ("10:00", "Stretching"),
        ("10:20", "Walking"),
        ("11:00", "Doctor"),
        ("12:00", "Finish"),
    ]


@pytest.mark.parametrize(
    ("chosen", "reason"),
    [
        (time(9, 30), "the day starts at 09:30 with 'Review of your home-practice"),
        (time(8, 0), "the day starts at 09:30"),
        (
            time(10, 0),
            "overlap 'Feedback from the thought challenge (psychology)' (09:45 to 11:00)",
        ),
        (time(11, 0), "'Break' (11:00 to 11:30) is a break and stays where it is."),
        (time(12, 0), "from 12:00 to 13:00 it would overlap 'Lunch' (12:30 to 13:30)."),
        (time(14, 15), "the day finishes at 15:00 and the doctor's session lasts 1 hour."),
        (time(15, 0), "the day finishes at 15:00"),
    ],
)
def test_a_time_that_would_clash_is_refused_with_the_reason(chosen: time, reason: str) -> None:
    with pytest.raises(TimetableClash) as refused:
        place_qa(day(), chosen)
    assert reason in str(refused.value)


def test_the_family_sessions_stay_where_guests_were_told() -> None:
    with pytest.raises(TimetableClash, match="is for friends and family"):
        place_qa(day(7, family_day=True), time(14, 0))
    assert qa_times(day(7, family_day=True)) == ["11:30"]


def test_the_times_that_fit() -> None:
    assert qa_times(day()) == ["11:30", "14:00"]
    assert qa_times(day(1)) == ["11:30", "14:00"]
