"""A group's calendar: bank holidays, reviews, moving events, and telling the patients."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.db.models import (
    Cohort,
    CohortEvent,
    OutboxMessage,
    Person,
    ReviewBooking,
    ScheduledMessage,
)
from bot.messages import DeliveryError, Reply
from bot.services import cohorts, people
from bot.services.calendar_changes import move_and_tell
from bot.services.cohorts import CohortError, CohortRequest
from bot.services.events import EventError, Move, events_of, move_event, parse_event_name
from bot.services.planner import REMINDER_SLOTS, Planner
from bot.time.calendar import (
    add_months,
    bank_holiday,
    free_day,
    next_free_day,
    programme_days,
    review_dates,
)
from dialogs.flows import NUDGE_RENDERERS
from scheduler.dispatcher import Dispatcher
from scheduler.reminders import ReminderReleaser
from tests.helpers import RecordingSender, make_cohort

TODAY = date(2026, 11, 26)  # the test clock's date (a Thursday)
WINTER = date(2026, 12, 7)  # days 7-10, 14-17, 21-24 Dec; reviews 25 Jan, 24 Jun, 29 Dec 2027


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- Pure date logic ---------------------------------------------------------------------


def test_bank_holiday_monday_start_moves_day_one_and_day_twelve() -> None:
    days = programme_days(date(2026, 5, 4))  # Early May bank holiday
    assert len(days) == 12
    assert days[0] == date(2026, 5, 5)  # Tuesday
    assert days[7:11] == [date(2026, 5, d) for d in (18, 19, 20, 21)]
    assert date(2026, 5, 25) not in days  # Spring bank holiday
    assert days[-1] == date(2026, 5, 26)
    assert all(free_day(d) for d in days) and days == sorted(set(days))
    assert review_dates(days[-1]) == {
        1: date(2026, 6, 29),  # 26 June is a Friday
        6: date(2026, 11, 26),
        12: date(2027, 5, 26),
    }


def test_easter_2027() -> None:
    assert bank_holiday(date(2027, 3, 26)) and bank_holiday(date(2027, 3, 29))
    assert not bank_holiday(date(2027, 3, 30))
    days = programme_days(date(2027, 3, 15))
    assert days[7] == date(2027, 3, 25)
    assert days[8:] == [date(2027, 3, 30), date(2027, 3, 31), date(2027, 4, 1), date(2027, 4, 5)]
    # Good Friday, then the weekend, then Easter Monday: the review goes to the Tuesday.
    assert review_dates(date(2026, 3, 26))[12] == date(2027, 3, 30)
    # A group starting on Easter Monday starts on the Tuesday and still has twelve days.
    easter_start = programme_days(date(2027, 3, 29))
    assert easter_start[0] == date(2027, 3, 30) and len(easter_start) == 12


def test_christmas_and_new_year() -> None:
    days = programme_days(date(2026, 12, 14))
    assert date(2026, 12, 28) not in days  # Boxing Day (observed)
    assert days[8:] == [
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 4),
    ]
    # 2027: both Christmas holidays are observed on Mon 27 and Tue 28 December, and New
    # Year's Day 2028 (a Saturday) on Monday 3 January.
    later = programme_days(date(2027, 12, 13))
    assert later[8:] == [date(2027, 12, 29), date(2027, 12, 30), date(2028, 1, 4), date(2028, 1, 5)]
    assert next_free_day(date(2027, 12, 24)) == date(2027, 12, 29)
    assert review_dates(date(2026, 12, 24))[12] == date(2027, 12, 29)
    assert review_dates(date(2026, 11, 26))[1] == date(2026, 12, 29)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 3, 31), 1, date(2027, 4, 30)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 12, 24), 12, date(2027, 12, 24)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_months_last(
    day: date, months: int, expected: date
) -> None:
    assert add_months(day, months) == expected


def test_default_reviews_are_the_first_free_day_on_or_after_the_date() -> None:
    start = date(2026, 1, 5)
    while start < date(2029, 1, 1):
        last = programme_days(start)[-1]
        reviews = review_dates(last)
        assert list(reviews) == [1, 6, 12]
        for months, on in reviews.items():
            target = add_months(last, months)
            assert free_day(on) and on >= target, (start, months)
            assert not any(free_day(target + timedelta(n)) for n in range((on - target).days))
        start += timedelta(days=7)
    # 29 Jan 2026 + 1 month is Saturday 28 February: the review is on Monday 2 March.
    assert review_dates(date(2026, 1, 29))[1] == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("day3", ("day", 3)),
        ("day-3", ("day", 3)),
        (" Day 12 ", ("day", 12)),
        ("DAY1", ("day", 1)),
        ("review6", ("review", 6)),
        ("review-12", ("review", 12)),
        ("Review 1", ("review", 1)),
    ],
)
def test_event_names(name: str, expected: tuple[str, int]) -> None:
    assert parse_event_name(name) == expected


@pytest.mark.parametrize(
    "name", ["day0", "day13", "review3", "review0", "x", "", "day", "review-", "day3x", "day²"]
)
def test_not_event_names(name: str) -> None:
    with pytest.raises(EventError, match="is not an event: use day1 to day12"):
        parse_event_name(name)


# --- Groups and their stored events -----------------------------------------------------


async def stored_events(runtime: Runtime, cohort_id: int) -> dict[str, CohortEvent]:
    async with runtime.sessions() as session:
        found = await session.scalars(select(CohortEvent).where(CohortEvent.cohort_id == cohort_id))
        return {f"{e.kind}{e.number}": e for e in found}


async def test_create_cohort_stores_fifteen_events(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=date(2026, 5, 4))
    events = await stored_events(runtime, cohort.id)
    assert len(events) == 15
    assert events["day1"].on_date == date(2026, 5, 5)
    assert events["day12"].on_date == date(2026, 5, 26)
    assert [events[f"review{m}"].on_date for m in (1, 6, 12)] == [
        date(2026, 6, 29),
        date(2026, 11, 26),
        date(2027, 5, 26),
    ]
    assert all(e.start_time is None for e in events.values())
    assert (cohort.qa_day, cohort.family_day) == (10, 7)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"qa_day": 0}, "question-and-answer day must be a day number from 1 to 12"),
        ({"qa_day": 13}, "question-and-answer day must be a day number from 1 to 12"),
        ({"family_day": 4}, "friends-and-family day is in week two: day 5, 6, 7 or 8"),
        ({"family_day": 9}, "friends-and-family day is in week two: day 5, 6, 7 or 8"),
        ({"start_date": date(2026, 12, 10)}, "must be a Monday; Thursday 10 December 2026 is not"),
    ],
)
async def test_create_cohort_refuses_bad_days(
    runtime: Runtime, changes: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "name": "A",
        "start_date": WINTER,
        "mode": "in-person",
        "location": "Room 4",
    } | changes
    with pytest.raises(CohortError, match=message):
        async with runtime.sessions() as session, session.begin():
            await cohorts.create_cohort(session, CohortRequest(**fields), runtime.clock.now())  # type: ignore[arg-type]
    async with runtime.sessions() as session:
        assert list(await session.scalars(select(Cohort))) == []
        assert list(await session.scalars(select(CohortEvent))) == []


# --- move_event -------------------------------------------------------------------------


async def move(
    runtime: Runtime, cohort_id: int, name: str, new_date: date, today: date = TODAY
) -> Move:
    kind, number = parse_event_name(name)
    async with runtime.sessions() as session, session.begin():
        cohort = await session.get(Cohort, cohort_id)
        assert cohort is not None
        return await move_event(session, cohort, kind, number, new_date, today)


async def assert_refused(
    runtime: Runtime, cohort_id: int, name: str, new_date: date, message: str
) -> None:
    before = {k: e.on_date for k, e in (await stored_events(runtime, cohort_id)).items()}
    with pytest.raises(EventError, match=message):
        await move(runtime, cohort_id, name, new_date)
    after = {k: e.on_date for k, e in (await stored_events(runtime, cohort_id)).items()}
    assert after == before


async def test_cannot_move_into_the_past(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await assert_refused(
        runtime,
        cohort.id,
        "day1",
        date(2026, 11, 25),
        r"Wednesday 25 November 2026 is in the past; choose today or later\.",
    )
    await assert_refused(runtime, cohort.id, "review1", date(2026, 1, 25), "is in the past")
    moved = await move(runtime, cohort.id, "day1", TODAY)  # today itself is allowed
    assert moved.event.on_date == TODAY and moved.old_date == WINTER


async def test_cannot_move_what_already_happened(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=date(2026, 11, 2))
    await assert_refused(
        runtime,
        cohort.id,
        "day1",
        date(2026, 11, 30),
        r"Day 1 has already happened \(Monday 2 November 2026\)\.",
    )
    await assert_refused(runtime, cohort.id, "day12", date(2026, 11, 30), "already happened")
    # Its first review (19 Dec is a Saturday: Monday 21 December) can still move.
    moved = await move(runtime, cohort.id, "review1", date(2026, 12, 22))
    assert moved.old_date == date(2026, 12, 21)


@pytest.mark.parametrize(
    ("name", "new_date", "message"),
    [
        ("day5", date(2026, 12, 10), r"Day 5 must come after Day 4 \(Thursday 10 December 2026\)"),
        ("day5", date(2026, 12, 9), "Day 5 must come after Day 4"),
        ("day5", date(2026, 12, 15), r"Day 5 must come before Day 6 \(Tuesday 15 December 2026\)"),
        ("day5", date(2026, 12, 21), "Day 5 must come before Day 6"),
        ("day12", date(2027, 1, 25), "Day 12 must come before 1-month review"),
        ("day2", date(2026, 12, 7), "Day 2 must come after Day 1"),
        ("review1", date(2026, 12, 24), "1-month review must come after Day 12"),
        ("review1", date(2027, 6, 30), "1-month review must come before 6-month review"),
        ("review6", date(2027, 1, 20), "6-month review must come after 1-month review"),
        ("review6", date(2027, 12, 29), "6-month review must come before 12-month review"),
        ("review12", date(2027, 6, 24), "12-month review must come after 6-month review"),
    ],
)
async def test_order_of_days_and_reviews_holds(
    runtime: Runtime, name: str, new_date: date, message: str
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await assert_refused(runtime, cohort.id, name, new_date, message)


async def test_reviews_move_within_their_neighbours(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    assert (await move(runtime, cohort.id, "review6", date(2027, 2, 1))).warnings == ()
    assert (await move(runtime, cohort.id, "review12", date(2028, 1, 10))).warnings == ()
    # Now the 1-month review must come before 1 February.
    with pytest.raises(EventError, match=r"before 6-month review \(Monday 1 February 2027\)"):
        await move(runtime, cohort.id, "review1", date(2027, 2, 2))
    events = await stored_events(runtime, cohort.id)
    assert events["review6"].on_date == date(2027, 2, 1)
    assert events["review12"].on_date == date(2028, 1, 10)


@pytest.mark.parametrize(
    ("name", "new_date", "warnings"),
    [
        ("day4", date(2026, 12, 12), ["Saturday 12 December 2026 is not a Monday to Thursday."]),
        ("day4", date(2026, 12, 13), ["Sunday 13 December 2026 is not a Monday to Thursday."]),
        ("day4", date(2026, 12, 11), ["Friday 11 December 2026 is not a Monday to Thursday."]),
        ("day12", date(2026, 12, 28), ["Monday 28 December 2026 is a bank holiday in England."]),
        (
            "day12",
            date(2026, 12, 25),
            [
                "Friday 25 December 2026 is not a Monday to Thursday.",
                "Friday 25 December 2026 is a bank holiday in England.",
            ],
        ),
        ("review12", date(2027, 12, 27), ["Monday 27 December 2027 is a bank holiday in England."]),
        ("day12", date(2026, 12, 29), []),
    ],
)
async def test_weekends_and_bank_holidays_are_moved_with_a_warning(
    runtime: Runtime, name: str, new_date: date, warnings: list[str]
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    moved = await move(runtime, cohort.id, name, new_date)
    assert list(moved.warnings) == warnings
    assert (await stored_events(runtime, cohort.id))[name].on_date == new_date


# --- move_and_tell: reminders and messages ----------------------------------------------


async def add_patient(
    runtime: Runtime,
    cohort_id: int,
    name: str,
    quiet: tuple[str | None, str | None] = ("21:00", "07:30"),
    role: str = "patient",
) -> int:
    """Enrol someone in a group and plan their reminders, as joining does."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        person = await people.enrol(
            session,
            role=role,
            cohort_id=cohort_id,
            display_name=name,
            channel="console",
            user_id=f"user-{name}",
            chat_id=f"chat-{name}",
            now=now,
        )
        person.quiet_start, person.quiet_end = quiet
        await Planner(runtime.content, runtime.settings.tz).plan(session, now, [person.id])
        return person.id


async def tell(
    runtime: Runtime, cohort_id: int, name: str, new_date: date, now: datetime | None = None
) -> tuple[Move, int]:
    kind, number = parse_event_name(name)
    async with runtime.sessions() as session, session.begin():
        cohort = await session.get(Cohort, cohort_id)
        assert cohort is not None
        return await move_and_tell(
            session,
            runtime.content,
            runtime.settings.tz,
            cohort,
            kind,
            number,
            new_date,
            now or runtime.clock.now(),
        )


async def reminders_for(
    runtime: Runtime, person_id: int, event_id: int
) -> dict[tuple[str, date], ScheduledMessage]:
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(ScheduledMessage).where(
                ScheduledMessage.person_id == person_id,
                ScheduledMessage.event_id == event_id,
                ScheduledMessage.slot.in_(REMINDER_SLOTS),  # the flows' nudges move alike
            )
        )
        return {(r.slot, r.event_date): r for r in found}


async def notices(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "event_moved")
                .order_by(OutboxMessage.person_id)
            )
        )


async def test_planned_reminders_move_with_the_event(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    robin = await add_patient(runtime, cohort.id, "Robin")
    sam = await add_patient(runtime, cohort.id, "Sam")
    day12 = (await stored_events(runtime, cohort.id))["day12"]
    for person in (robin, sam):
        assert {
            key: r.due_at for key, r in (await reminders_for(runtime, person, day12.id)).items()
        } == {
            ("evening", date(2026, 12, 24)): utc(2026, 12, 23, 18, 0),
            ("morning", date(2026, 12, 24)): utc(2026, 12, 24, 7, 45),
        }

    moved, told = await tell(runtime, cohort.id, "day12", date(2027, 1, 4))
    assert (moved.old_date, moved.event.on_date, told) == (date(2026, 12, 24), date(2027, 1, 4), 2)
    for person in (robin, sam):
        found = await reminders_for(runtime, person, day12.id)
        assert {key: (r.due_at, r.send_until, r.status) for key, r in found.items()} == {
            ("evening", date(2027, 1, 4)): (
                utc(2027, 1, 3, 18, 0),
                utc(2027, 1, 4, 0, 0),
                "planned",
            ),
            ("morning", date(2027, 1, 4)): (
                utc(2027, 1, 4, 7, 45),
                utc(2027, 1, 4, 9, 30),
                "planned",
            ),
        }
    # The other days' reminders are untouched.
    day11 = (await stored_events(runtime, cohort.id))["day11"]
    assert set(await reminders_for(runtime, robin, day11.id)) == {
        ("evening", date(2026, 12, 23)),
        ("morning", date(2026, 12, 23)),
    }


async def test_reminders_already_sent_stay_as_they_were(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    robin = await add_patient(runtime, cohort.id, "Robin")
    day12 = (await stored_events(runtime, cohort.id))["day12"]
    clock = runtime.clock
    clock.set(utc(2026, 12, 23, 18, 0))  # type: ignore[attr-defined]
    sender = RecordingSender()
    releaser = ReminderReleaser(
        runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
    )
    await Dispatcher(runtime.sessions, {"console": sender}, clock, reminders=releaser).drain()
    # Day 12's evening reminder (and day 11's invitation to plan home practice, still useful).
    (reminder,) = [reply for _chat, reply in sender.sent if "of 12" in reply.text]
    assert len(sender.sent) == 2 and "Robin" in reminder.text
    sent_before = await reminders_for(runtime, robin, day12.id)
    evening = sent_before[("evening", date(2026, 12, 24))]
    assert evening.status == "queued"

    later = utc(2026, 12, 23, 19, 0)
    _moved, told = await tell(runtime, cohort.id, "day12", date(2026, 12, 29), now=later)
    assert told == 1
    after = await reminders_for(runtime, robin, day12.id)
    kept = after[("evening", date(2026, 12, 24))]
    assert (kept.id, kept.status, kept.due_at, kept.updated_at) == (
        evening.id,
        "queued",
        evening.due_at,
        evening.updated_at,
    )
    assert ("morning", date(2026, 12, 24)) not in after
    assert after[("evening", date(2026, 12, 29))].due_at == utc(2026, 12, 28, 18, 0)
    assert after[("morning", date(2026, 12, 29))].due_at == utc(2026, 12, 29, 7, 45)
    async with runtime.sessions() as session:
        message = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.scheduled_id == evening.id)
        )
        assert message is not None and message.status == "sent"


class DownSender:
    """A channel that is down for a while."""

    channel = "console"

    async def send(self, chat_id: str, reply: Reply) -> None:
        raise DeliveryError("network down")


async def test_a_reminder_still_waiting_to_go_is_not_sent_for_the_old_date(
    runtime: Runtime,
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    robin = await add_patient(runtime, cohort.id, "Robin")
    day12 = (await stored_events(runtime, cohort.id))["day12"]
    clock = runtime.clock
    releaser = ReminderReleaser(
        runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
    )
    # 18:00 on 23 December: the reminder for day 12 "tomorrow" is released, but the channel
    # is down, so it waits in the outbox to be retried.
    clock.set(utc(2026, 12, 23, 18, 0))  # type: ignore[attr-defined]
    await Dispatcher(runtime.sessions, {"console": DownSender()}, clock, reminders=releaser).drain()
    waiting = (await reminders_for(runtime, robin, day12.id))[("evening", date(2026, 12, 24))]
    assert waiting.status == "queued"

    # Meanwhile staff move day 12 to the next Tuesday; then the channel comes back.
    await tell(runtime, cohort.id, "day12", date(2026, 12, 29), now=utc(2026, 12, 23, 18, 10))
    clock.set(utc(2026, 12, 23, 18, 20))  # type: ignore[attr-defined]
    sender = RecordingSender()
    await Dispatcher(runtime.sessions, {"console": sender}, clock, reminders=releaser).drain()
    texts = [reply.text for _chat, reply in sender.sent]
    assert any("day 12 has moved from Thursday 24 December 2026" in t for t in texts), texts
    # Robin must not then be told that day 12 is tomorrow, 24 December.
    stale = [t for t in texts if "Tomorrow, Thursday 24 December, is day 12" in t]
    assert stale == [], "a reminder for the old date went out after the move"


@pytest.mark.parametrize(
    ("start", "now", "quiet_until"),
    [
        # Winter: quiet hours end at 07:30 GMT the next morning.
        (WINTER, utc(2026, 11, 26, 22, 15), utc(2026, 11, 27, 7, 30)),
        # After midnight: the end is the same morning.
        (WINTER, utc(2026, 11, 27, 3, 0), utc(2026, 11, 27, 7, 30)),
        # Summer: 22:30 UTC is 23:30 BST; 07:30 BST is 06:30 UTC.
        (date(2027, 6, 7), utc(2027, 6, 1, 22, 30), utc(2027, 6, 2, 6, 30)),
    ],
)
async def test_each_patient_is_told_once_outside_their_quiet_hours(
    runtime: Runtime, start: date, now: datetime, quiet_until: datetime
) -> None:
    cohort = await make_cohort(runtime, start=start)
    robin = await add_patient(runtime, cohort.id, "Robin")  # quiet 21:00-07:30
    sam = await add_patient(runtime, cohort.id, "Sam", quiet=(None, None))  # no quiet hours
    await add_patient(runtime, cohort.id, "Nurse", role="staff")
    gone = await add_patient(runtime, cohort.id, "Gone")
    async with runtime.sessions() as session, session.begin():
        person = await session.get(Person, gone)
        assert person is not None
        person.discharged_at = runtime.clock.now()
    day12 = programme_days(start)[-1]
    new_date = day12 + timedelta(days=4)  # the Thursday becomes the next Monday

    moved, told = await tell(runtime, cohort.id, "day12", new_date, now=now)
    assert told == 2
    rows = await notices(runtime)
    assert [(r.person_id, r.chat_id) for r in rows] == [(robin, "chat-Robin"), (sam, "chat-Sam")]
    assert [r.not_before for r in rows] == [quiet_until, now]
    for row in rows:
        # Bulk priority: waiting for quiet hours to end, it must not hold back replies.
        assert (row.status, row.priority, row.channel, row.created_at) == (
            "pending",
            2,
            "console",
            now,
        )
        assert (
            f"day 12 has moved from {day12:%A} {day12.day} {day12:%B %Y} to "
            f"{new_date:%A} {new_date.day} {new_date:%B %Y}, starting at 09:30" in row.text
        )
    assert rows[0].text.startswith("Hello Robin.") and rows[1].text.startswith("Hello Sam.")
    assert moved.event.on_date == new_date


async def test_review_moves_tell_those_booked_into_that_review(runtime: Runtime) -> None:
    group_a = await make_cohort(runtime, start=WINTER)  # 1-month review Mon 25 Jan 2027
    group_b = await make_cohort(runtime, start=date(2026, 12, 14))  # Thu 4 Feb 2027
    stays = await add_patient(runtime, group_a.id, "Stays")
    visitor = await add_patient(runtime, group_a.id, "Visitor")
    member_b = await add_patient(runtime, group_b.id, "MemberB")
    a_review = (await stored_events(runtime, group_a.id))["review1"]
    b_review = (await stored_events(runtime, group_b.id))["review1"]
    assert (a_review.on_date, b_review.on_date) == (date(2027, 1, 25), date(2027, 2, 4))
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        session.add(ReviewBooking(person_id=visitor, months=1, event_id=b_review.id, booked_at=now))
        await session.flush()
        await Planner(runtime.content, runtime.settings.tz).plan(session, now, [visitor])
    assert set(await reminders_for(runtime, visitor, a_review.id)) == set()
    assert set(await reminders_for(runtime, visitor, b_review.id)) == {
        ("week_before", date(2027, 2, 4)),
        ("day_before", date(2027, 2, 4)),
    }

    # Their own group's review moves: the visitor is not told.
    _moved, told = await tell(runtime, group_a.id, "review1", date(2027, 1, 27))
    assert told == 1
    assert [r.person_id for r in await notices(runtime)] == [stays]
    assert set(await reminders_for(runtime, stays, a_review.id)) == {
        ("week_before", date(2027, 1, 27)),
        ("day_before", date(2027, 1, 27)),
    }
    assert set(await reminders_for(runtime, visitor, a_review.id)) == set()

    # The review they are booked into moves: they are told, with that group's members.
    _moved, told = await tell(runtime, group_b.id, "review1", date(2027, 2, 8))
    assert told == 2
    told_about_b = [r for r in await notices(runtime) if r.person_id != stays]
    assert sorted(r.person_id or 0 for r in told_about_b) == sorted([visitor, member_b])
    assert all(
        "1-month review has moved from Thursday 4 February 2027" in r.text for r in told_about_b
    )
    found = await reminders_for(runtime, visitor, b_review.id)
    assert {key: r.due_at for key, r in found.items()} == {
        ("week_before", date(2027, 2, 8)): utc(2027, 2, 1, 18, 0),
        ("day_before", date(2027, 2, 8)): utc(2027, 2, 7, 18, 0),
    }


async def test_events_of_lists_days_then_reviews(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    async with runtime.sessions() as session:
        stored = await session.get(Cohort, cohort.id)
        assert stored is not None
        found = await events_of(session, stored)
    assert [f"{e.kind}{e.number}" for e in found] == [f"day{n}" for n in range(1, 13)] + [
        "review1",
        "review6",
        "review12",
    ]
