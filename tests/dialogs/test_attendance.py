"""Answers to reminders, review moves, and the programme list, through neutral events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import (
    Attendance,
    Cohort,
    CohortEvent,
    OutboxMessage,
    Person,
    ReviewBooking,
    ScheduledMessage,
)
from bot.services import cohorts
from bot.services.cohorts import CohortRequest
from tests.conftest import STAFF_ID
from tests.helpers import Chat, count, enrol_patient, make_cohort, make_invites

LONDON = ZoneInfo("Europe/London")
OLD_BUTTON = "That button is from an earlier message, so I've not used it."
# The patient's own group (make_cohort) starts on 7 December 2026: day 1 is Monday 7 December,
# the 1-month review Monday 25 January 2027.
OWN_REVIEW_1 = date(2027, 1, 25)


async def group(
    runtime: Runtime,
    start: date,
    name: str,
    mode: str = "in-person",
    location: str = "Day Unit, Room 2",
) -> Cohort:
    """Another group, with its own name and place."""
    async with runtime.sessions() as session, session.begin():
        return await cohorts.create_cohort(
            session,
            CohortRequest(
                name=name,
                start_date=start,
                mode=mode,
                location=location if mode == "in-person" else None,
                video_link="https://video.example.org/pmp-other" if mode == "online" else None,
            ),
            runtime.clock.now(),
        )


async def enrol_in(runtime: Runtime, cohort: Cohort, user_id: str = "patient-1") -> Chat:
    """A patient who has joined this group."""
    (invite,) = await make_invites(runtime, cohort)
    chat = Chat(runtime, user_id=user_id)
    await chat.command("start", invite.code)
    await chat.press("Yes, I agree")
    await chat.say("Robin")
    return chat


async def person_of(runtime: Runtime, user_id: str = "patient-1") -> Person:
    async with runtime.sessions() as session:
        person = await session.scalar(select(Person).where(Person.channel_user_id == user_id))
        assert person is not None
        return person


async def event_of(runtime: Runtime, cohort_id: int, kind: str, number: int) -> CohortEvent:
    async with runtime.sessions() as session:
        event = await session.scalar(
            select(CohortEvent).where(
                CohortEvent.cohort_id == cohort_id,
                CohortEvent.kind == kind,
                CohortEvent.number == number,
            )
        )
        assert event is not None
        return event


async def own_event(runtime: Runtime, kind: str, number: int, user_id: str = "patient-1") -> int:
    person = await person_of(runtime, user_id)
    assert person.cohort_id is not None
    return (await event_of(runtime, person.cohort_id, kind, number)).id


async def staff_notices(runtime: Runtime) -> list[OutboxMessage]:
    """Notices to the staff chat, oldest first, leaving out 'patient joined'."""
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.chat_id == "staff", OutboxMessage.kind != "patient_joined")
            .order_by(OutboxMessage.id)
        )
        return list(found)


async def answers(runtime: Runtime) -> dict[int, str]:
    async with runtime.sessions() as session:
        return {a.event_id: a.answer for a in await session.scalars(select(Attendance))}


async def review_rows(runtime: Runtime, person_id: int, months: int) -> list[ScheduledMessage]:
    """The week-before and day-before reminders for one review, whichever group's it is."""
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(ScheduledMessage)
            .join(CohortEvent, CohortEvent.id == ScheduledMessage.event_id)
            .where(
                ScheduledMessage.person_id == person_id,
                ScheduledMessage.slot.in_(("week_before", "day_before")),
                CohortEvent.kind == "review",
                CohortEvent.number == months,
            )
            .order_by(ScheduledMessage.due_at)
        )
        return list(found)


# Answers and staff notices


async def test_ill_be_there_is_stored_and_tells_staff_nothing(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    await chat.event(kind="button", payload=f"a:{day1}:yes")
    assert "Thank you, Robin. See you at day 1 (Monday 7 December)." in chat.text
    assert await answers(runtime) == {day1: "yes"}
    assert await staff_notices(runtime) == []


async def test_late_and_absent_tell_staff_once_per_answer(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    person = await person_of(runtime)
    day3 = await own_event(runtime, "day", 3)

    await chat.event(kind="button", payload=f"a:{day3}:late")
    assert "I have told the team you are running late for day 3 (Wednesday 9 December)" in (
        chat.text
    )
    notices = await staff_notices(runtime)
    assert [n.kind for n in notices] == ["attendance_late"]
    expected = f"P{person.id} is running late for day 3 (Wednesday 9 December)."
    assert notices[0].text.strip() == expected
    assert "Robin" not in notices[0].text

    await chat.event(kind="button", payload=f"a:{day3}:late")  # pressed again
    assert "running late" in chat.text
    assert [n.kind for n in await staff_notices(runtime)] == ["attendance_late"]

    clock.advance(timedelta(minutes=5))
    await chat.event(kind="button", payload=f"a:{day3}:no")
    assert "I have let the team know you can't come to day 3" in chat.text
    notices = await staff_notices(runtime)
    assert [n.kind for n in notices] == ["attendance_late", "attendance_no"]
    assert f"P{person.id} can't come to day 3" in notices[1].text
    async with runtime.sessions() as session:
        (row,) = list(await session.scalars(select(Attendance)))
        assert (row.event_id, row.answer, row.answered_at) == (day3, "no", clock.now())

    await chat.event(kind="button", payload=f"a:{day3}:no")
    await chat.event(kind="button", payload=f"a:{day3}:yes")
    assert "See you at day 3" in chat.text
    assert await answers(runtime) == {day3: "yes"}
    # Staff were told they would be absent: they hear of the change of mind, once.
    notices = await staff_notices(runtime)
    assert [n.kind for n in notices] == ["attendance_late", "attendance_no", "attendance_yes"]
    assert f"P{person.id} now says they will be at day 3" in notices[2].text
    await chat.event(kind="button", payload=f"a:{day3}:yes")
    assert len(await staff_notices(runtime)) == 3


async def test_button_for_a_past_event_changes_nothing(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=UTC))
    await chat.event(kind="button", payload=f"a:{day1}:no")
    assert "That button was for day 1 (Monday 7 December), which has passed" in chat.text
    assert "not changed anything" in chat.text
    assert await answers(runtime) == {}
    assert await staff_notices(runtime) == []


async def test_a_button_on_the_day_itself_still_counts(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    clock.set(datetime(2026, 12, 7, 8, 0, tzinfo=UTC))
    await chat.event(kind="button", payload=f"a:{day1}:late")
    assert "running late for day 1" in chat.text
    assert await answers(runtime) == {day1: "late"}
    assert [n.kind for n in await staff_notices(runtime)] == ["attendance_late"]


async def test_forged_payloads_get_the_old_button_reply_and_store_nothing(
    runtime: Runtime,
) -> None:
    chat = await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    other = await group(runtime, date(2026, 12, 14), "Monday Group B")
    theirs = (await event_of(runtime, other.id, "day", 1)).id
    for payload in (
        f"a:{theirs}:yes",  # another group's event
        "a:abc:late",  # not a number
        f"a:{day1}:maybe",  # not an answer
        f"a:{day1}",  # no answer
        "a::no",
        "a:99999999:no",  # no such event
        f"a:-{day1}:no",
    ):
        await chat.event(kind="button", payload=payload)
        assert OLD_BUTTON in chat.text, payload
        assert "What would you like to do, Robin?" in chat.text, payload
    assert await answers(runtime) == {}
    assert await staff_notices(runtime) == []


async def test_payload_with_a_non_ascii_digit_gets_the_old_button_reply(runtime: Runtime) -> None:
    # "²" and "١" pass str.isdigit(); int("²") raises. Forged callback data must not crash a turn.
    chat = await enrol_patient(runtime)
    for payload in ("a:²:yes", "r:²:none"):
        await chat.event(kind="button", payload=payload)
        assert OLD_BUTTON in chat.text, payload
    assert await answers(runtime) == {}


async def test_staff_member_pressing_an_attendance_button(runtime: Runtime) -> None:
    await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    staff_group = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, staff_group, role="staff")
    staff = Chat(runtime, user_id=str(STAFF_ID), channel="telegram")
    await staff.command("start", invite.code)
    await staff.say("Sam Okafor")
    for payload in (f"a:{day1}:late", f"r:{day1}:none"):
        await staff.event(kind="button", payload=payload)
        assert OLD_BUTTON in staff.text, payload
        assert "You are on the staff list" in staff.text
    assert await count(runtime, Attendance) == 0
    assert await staff_notices(runtime) == []


async def test_stranger_pressing_an_attendance_button(runtime: Runtime) -> None:
    await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    stranger = Chat(runtime, user_id="stranger")
    await stranger.event(kind="button", payload=f"a:{day1}:no")
    assert "I can only help people taking part in the programme" in stranger.text
    assert await count(runtime, Attendance) == 0
    assert await staff_notices(runtime) == []


async def test_button_pressed_in_a_group_chat_is_not_used(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    await chat.event(kind="button", payload=f"a:{day1}:no", chat_id="-100123", private_chat=False)
    assert chat.replies == []
    assert chat.last_outcome is not None
    assert chat.last_outcome.alert == "Sorry, this button is for someone else."
    assert await count(runtime, Attendance) == 0


# Reviews


async def test_cant_make_it_to_a_review_offers_same_mode_reviews_and_books_one(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    person = await person_of(runtime)
    # Same kind (in person, 1 month) and within 8 weeks: offered.
    near = await group(runtime, date(2026, 12, 14), "Monday Group B")  # review Thu 4 Feb 2027
    # Online: another mode. March: its review (19 April) is more than 8 weeks after 25 January.
    await group(runtime, date(2026, 11, 30), "Online Group", mode="online")  # review 18 Jan
    await group(runtime, date(2027, 3, 1), "Spring Group")
    own = await own_event(runtime, "review", 1)
    theirs = await event_of(runtime, near.id, "review", 1)
    assert [r.event_id for r in await review_rows(runtime, person.id, 1)] == [own, own]

    clock.set(datetime(2027, 1, 18, 18, 5, tzinfo=UTC))  # the week-before reminder came
    await chat.event(kind="button", payload=f"a:{own}:no")
    assert "I have let the team know you can't come to the 1-month review" in chat.text
    assert "You can come to another group review instead" in chat.text
    assert "Thursday 4 February 2027, from 10:00" in chat.text
    assert "Day Unit, Room 2" in chat.text
    assert chat.labels == ["Thu 4 Feb", "None of these"]
    assert await answers(runtime) == {own: "no"}

    await chat.press("Thu 4 Feb")
    assert (
        "You are booked on the 1-month review on Thursday 4 February 2027, from 10:00, "
        "with another group." in chat.text
    )
    assert "Where: Day Unit, Room 2" in chat.text
    async with runtime.sessions() as session:
        (booking,) = list(await session.scalars(select(ReviewBooking)))
        assert (booking.person_id, booking.months, booking.event_id) == (person.id, 1, theirs.id)
    rows = await review_rows(runtime, person.id, 1)
    assert [(r.slot, r.event_id, r.status) for r in rows] == [
        ("week_before", theirs.id, "planned"),
        ("day_before", theirs.id, "planned"),
    ]
    assert [r.due_at.astimezone(LONDON) for r in rows] == [
        datetime(2027, 1, 28, 18, 0, tzinfo=LONDON),
        datetime(2027, 2, 3, 18, 0, tzinfo=LONDON),
    ]
    async with runtime.sessions() as session:
        left = await session.scalars(
            select(ScheduledMessage).where(
                ScheduledMessage.event_id == own, ScheduledMessage.status == "planned"
            )
        )
        assert list(left) == []
    notices = await staff_notices(runtime)
    assert [n.kind for n in notices] == ["attendance_no", "review_moved"]
    assert notices[1].text.strip() == (
        f"P{person.id} has moved their 1-month review to Thursday 4 February 2027, "
        "with Monday Group B."
    )

    # The new review is now theirs: its buttons work, and the programme shows where it is.
    await chat.event(kind="button", payload=f"a:{theirs.id}:yes")
    assert "See you at the 1-month review (Thursday 4 February)" in chat.text
    await chat.command("schedule")
    assert "1-month review: Thursday 4 February, 10:00 – you said you'll be there" in chat.text
    # The other group's place, not the patient's own room, beside that review.
    assert "– with another group, at Day Unit, Room 2" in chat.text
    assert "Everything else is with your own group." in chat.text
    clock.set(datetime(2027, 2, 4, 8, 0, tzinfo=UTC))
    await chat.command("today")
    assert "Today is your 1-month group review." in chat.text
    assert "Where: Day Unit, Room 2" in chat.text


async def test_online_review_with_no_online_alternative_asks_staff(runtime: Runtime) -> None:
    online = await make_cohort(runtime, mode="online")
    chat = await enrol_in(runtime, online)
    person = await person_of(runtime)
    await group(runtime, date(2026, 12, 14), "Monday Group B")  # in person: not for them
    own = await own_event(runtime, "review", 1)

    await chat.event(kind="button", payload=f"a:{own}:no")
    assert "There is no other group's review in the next few weeks." in chat.text
    assert "The team will contact you to find another date." in chat.text
    assert chat.labels == []
    notices = await staff_notices(runtime)
    assert [n.kind for n in notices] == ["attendance_no", "review_needs_date"]
    assert notices[1].text.strip() == (
        f"P{person.id} can't come to their 1-month review and no other group's date suits. "
        "Please contact them to arrange one."
    )
    assert await count(runtime, ReviewBooking) == 0
    assert await answers(runtime) == {own: "no"}


async def test_cant_make_it_again_does_not_ask_staff_twice(runtime: Runtime) -> None:
    online = await make_cohort(runtime, mode="online")
    chat = await enrol_in(runtime, online)
    own = await own_event(runtime, "review", 1)
    await chat.event(kind="button", payload=f"a:{own}:no")
    await chat.event(kind="button", payload=f"a:{own}:no")  # the same button again
    assert "The team will contact you" in chat.text
    kinds = [n.kind for n in await staff_notices(runtime)]
    assert kinds == ["attendance_no", "review_needs_date"]


async def test_none_of_these_asks_staff_to_arrange_a_date(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    person = await person_of(runtime)
    await group(runtime, date(2026, 12, 14), "Monday Group B")
    own = await own_event(runtime, "review", 1)
    await chat.event(kind="button", payload=f"a:{own}:no")
    assert chat.labels == ["Thu 4 Feb", "None of these"]
    await chat.press("None of these")
    assert "All right. The team will contact you to find another date." in chat.text
    notices = await staff_notices(runtime)
    assert [n.kind for n in notices] == ["attendance_no", "review_needs_date"]
    assert f"P{person.id} can't come to their 1-month review" in notices[1].text
    assert await count(runtime, ReviewBooking) == 0
    assert [r.event_id for r in await review_rows(runtime, person.id, 1)] == [own, own]


async def test_review_no_longer_available_offers_the_others_again(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    person = await person_of(runtime)
    await group(runtime, date(2026, 11, 30), "Monday Group C")  # review Mon 18 Jan 2027
    await group(runtime, date(2026, 12, 14), "Monday Group B")  # review Thu 4 Feb 2027
    own = await own_event(runtime, "review", 1)
    await chat.event(kind="button", payload=f"a:{own}:no")
    assert chat.labels == ["Mon 18 Jan", "Thu 4 Feb", "None of these"]
    offered = chat.replies

    clock.set(datetime(2027, 1, 19, 9, 0, tzinfo=UTC))  # 18 January has gone by
    await chat.press("Mon 18 Jan", offered)
    assert "That review date is no longer available. Here is what I can offer now." in chat.text
    assert chat.labels == ["Thu 4 Feb", "None of these"]
    assert await count(runtime, ReviewBooking) == 0
    assert [r.event_id for r in await review_rows(runtime, person.id, 1)] == [own, own]
    assert "review_moved" not in [n.kind for n in await staff_notices(runtime)]


async def test_review_during_their_own_programme_is_not_offered(runtime: Runtime) -> None:
    # Group D's 1-month review is Monday 14 December 2026: day 5 of this patient's programme,
    # long before their own 1-month review could be due.
    chat = await enrol_patient(runtime)
    await group(runtime, date(2026, 10, 26), "Monday Group D")
    await group(runtime, date(2026, 12, 14), "Monday Group B")  # review Thu 4 Feb 2027
    own = await own_event(runtime, "review", 1)
    await chat.event(kind="button", payload=f"a:{own}:no")
    assert "Monday 14 December 2026" not in chat.text
    assert chat.labels == ["Thu 4 Feb", "None of these"]


async def test_moving_back_to_their_own_review(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    person = await person_of(runtime)
    near = await group(runtime, date(2026, 12, 14), "Monday Group B")
    own = await own_event(runtime, "review", 1)
    theirs = await event_of(runtime, near.id, "review", 1)
    await chat.event(kind="button", payload=f"a:{own}:no")
    await chat.press("Thu 4 Feb")
    # Then 4 February does not suit either; their own group's date (25 January) does after all.
    await chat.event(kind="button", payload=f"a:{theirs.id}:no")
    assert chat.labels == ["Mon 25 Jan", "None of these"]
    await chat.press("Mon 25 Jan")
    assert "You are booked on the 1-month review on Monday 25 January 2027" in chat.text
    assert await count(runtime, ReviewBooking) == 0
    assert [r.event_id for r in await review_rows(runtime, person.id, 1)] == [own, own]
    # It is their own group, and they have just chosen it: neither "another group" nor the
    # earlier "can't make it" describes it any more.
    assert "with another group" not in chat.text
    await chat.command("schedule")
    line = next(x for x in chat.text.splitlines() if x.startswith("1-month review"))
    assert line == "1-month review: Monday 25 January 2027, 10:00", line


async def test_review_button_naming_an_event_that_is_not_theirs(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    other = await group(runtime, date(2026, 12, 14), "Monday Group B")
    theirs = await event_of(runtime, other.id, "review", 1)
    day1 = await own_event(runtime, "day", 1)
    for payload in (f"r:{theirs.id}:none", f"r:{day1}:{theirs.id}", "r:x:none"):
        await chat.event(kind="button", payload=payload)
        assert OLD_BUTTON in chat.text, payload
    assert await count(runtime, ReviewBooking) == 0
    assert await staff_notices(runtime) == []


# The programme list and today


async def test_schedule_lists_twelve_days_three_reviews_and_answers(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    day2 = await own_event(runtime, "day", 2)
    day4 = await own_event(runtime, "day", 4)
    await chat.event(kind="button", payload=f"a:{day1}:yes")
    await chat.event(kind="button", payload=f"a:{day2}:late")
    await chat.event(kind="button", payload=f"a:{day4}:no")

    await chat.command("schedule")
    text = chat.text
    assert text.startswith("Tuesday Group A: your programme days and reviews")
    lines = [line for line in text.splitlines() if line.startswith(("Day ", "1-", "6-", "12-"))]
    assert [line.split(":")[0] for line in lines] == [f"Day {n}" for n in range(1, 13)] + [
        "1-month review",
        "6-month review",
        "12-month review",
    ]
    assert "Day 1: Monday 7 December, 09:30 – you said you'll be there" in text
    assert "Day 2: Tuesday 8 December, 09:30 – you said you're running late" in text
    assert "Day 4: Thursday 10 December, 09:30 – you said you can't make it" in text
    assert "Day 3: Wednesday 9 December, 09:30\n" in text
    assert "Day 12: Thursday 24 December, 09:30" in text
    assert "1-month review: Monday 25 January 2027, 10:00" in text
    assert "12-month review: Wednesday 29 December 2027, 10:00" in text
    assert "Where: Pain Clinic, Room 4" in text
    assert "with another group" not in text

    await chat.press("My programme")
    assert chat.text == text


async def test_today_on_a_review_date(runtime: Runtime, clock: ManualClock) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2027, 1, 25, 8, 0, tzinfo=UTC))
    await chat.command("today")
    assert "Today is your 1-month group review." in chat.text
    assert "10:00  Group review: how things have gone since the programme" in chat.text
    assert "Where: Pain Clinic, Room 4" in chat.text
    clock.set(datetime(2027, 1, 26, 8, 0, tzinfo=UTC))
    await chat.command("today")
    assert "You finished the twelve programme days on Thursday 24 December 2026." in chat.text
    assert "Your next group review is the 6-month review, on Thursday 24 June 2027." in chat.text
