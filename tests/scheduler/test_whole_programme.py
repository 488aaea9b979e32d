"""Groups run from enrolment to discharge: every reminder arrives once, at the right local time.

The clock jumps from one due moment to the next (no sleeping). The groups cover the clocks
going forward (Sunday 29 March 2026), going back (Sunday 25 October 2026) and a bank-holiday
Monday start (4 May 2026).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.messages import Reply
from bot.services.planner import Planner
from tests.helpers import make_cohort
from tests.scheduler.support import (
    Recorder,
    dispatcher,
    enrol,
    local,
    person,
    run_until,
    scheduled,
)

REMINDERS_PER_PATIENT = (
    12 * 2 + 3 * 2 + 1
)  # days (evening, morning), reviews (week, day), discharge
# For a patient who sets no plan and sends no question: an invitation to plan home practice
# after days 1 to 11, a weekend check-in after each of those that is a Thursday, and the
# doctor's questions opening and closing (check-ins about a plan never set are not sent).
PLAN_INVITATIONS = 11


@pytest.mark.parametrize(
    ("start", "first_day"),
    [
        (date(2026, 3, 30), date(2026, 3, 30)),  # evening reminder on the day the clocks go forward
        (date(2026, 10, 26), date(2026, 10, 26)),  # ... and on the day they go back
        (date(2026, 5, 4), date(2026, 5, 5)),  # a bank-holiday Monday: day 1 moves to Tuesday
    ],
)
async def test_a_group_from_enrolment_to_discharge(
    runtime: Runtime, clock: ManualClock, start: date, first_day: date
) -> None:
    clock.set(datetime.combine(start - timedelta(days=10), time(12, 0), tzinfo=runtime.settings.tz))
    cohort = await make_cohort(runtime, start=start)
    plain = await enrol(runtime, cohort, "plain", "Robin")
    # Someone who wants a 07:00 morning reminder but is quiet until 07:30, and evenings at 19:30.
    custom = await enrol(
        runtime, cohort, "custom", "Sam", morning_time="07:00", evening_time="19:30"
    )
    recorder = Recorder(clock)
    worker = dispatcher(runtime, recorder)

    await run_until(runtime, clock, worker, clock.now() + timedelta(days=800), plan=True)

    for chat, evening, morning in (
        ("plain", time(18, 0), time(7, 45)),
        ("custom", time(19, 30), time(7, 30)),
    ):
        everything = recorder.to(chat)
        # None twice (the same words may come again on another day: a weekend check-in).
        assert len(
            {
                (reply.text, str(reply.buttons), local(at, runtime).date())
                for reply, at in everything
            }
        ) == len(everything)
        for _reply, at in everything:  # nothing in quiet hours (21:00 to 07:30)
            assert time(7, 30) <= local(at, runtime).time() < time(21, 0), (chat, at)
        received = [(r, at) for r, at in everything if not _is_flow_nudge(r)]
        nudges = [r.text for r, _at in everything if _is_flow_nudge(r)]
        assert len(received) == REMINDERS_PER_PATIENT, chat
        mornings_on = [
            local(at, runtime).date() for r, at in received if r.text.startswith("Good morning")
        ]
        thursdays = sum(day.weekday() == 3 for day in mornings_on[:-1])
        assert sum("home practice for tonight" in text for text in nudges) == PLAN_INVITATIONS
        assert sum("weekend check-in" in text for text in nudges) == thursdays
        assert len(nudges) == PLAN_INVITATIONS + thursdays + 2, chat
        assert len({reply.text for reply, _at in received}) == REMINDERS_PER_PATIENT  # none twice
        days = [(reply, at) for reply, at in received if "of 12" in reply.text]
        mornings = [
            local(at, runtime) for reply, at in days if reply.text.startswith("Good morning")
        ]
        evenings = [local(at, runtime) for reply, at in days if "Tomorrow" in reply.text]
        assert len(mornings) == 12 and len(evenings) == 12
        assert {m.time() for m in mornings} == {morning}
        assert {e.time() for e in evenings} == {evening}
        assert mornings[0].date() == first_day
        assert evenings[0].date() == first_day - timedelta(days=1)
        assert all(m.weekday() <= 3 for m in mornings)  # Monday to Thursday only
        reviews = [reply.text for reply, _at in received if "month group review" in reply.text]
        assert len(reviews) == 6
        assert received[-1][0].text.startswith(
            f"Hello {'Robin' if chat == 'plain' else 'Sam'}. Your one-year review"
        )
        # Every reminder but the discharge message has the answer buttons; a week ahead of a
        # review, nobody is running late.
        for reply, _at in received[:-1]:
            labels = [b.label for row in reply.buttons for b in row]
            if "is coming up on" in reply.text:
                assert labels == ["I'll be there", "Can't make it"]
            else:
                assert labels == ["I'll be there", "Running late", "Can't make it"]
    # The 12-month review ends it: discharged, nothing left planned, nothing more sent.
    for person_id in (plain, custom):
        assert (await person(runtime, person_id)).discharged_at is not None
        statuses = Counter(r.status for r in await scheduled(runtime, person_id))
        assert statuses == {"queued": REMINDERS_PER_PATIENT}
        flows = Counter(
            (r.status, r.reason) for r in await scheduled(runtime, person_id, slots=None)
        ) - Counter({("queued", None): REMINDERS_PER_PATIENT})
        sent = len([r for r in recorder.to("plain" if person_id == plain else "custom")])
        assert flows == {
            ("queued", None): sent - REMINDERS_PER_PATIENT,
            ("skipped", "not_needed"): 11,  # the check-ins: no plan was set
        }
    sent_before = len(recorder.sent)
    async with runtime.sessions() as session, session.begin():
        counts = await Planner(runtime.content, runtime.settings.tz).plan(session, clock.now())
    assert counts.people == 0 and counts.added == 0
    await run_until(runtime, clock, worker, clock.now() + timedelta(days=60))
    assert len(recorder.sent) == sent_before
    assert recorder.to("staff") == []  # nothing failed, nobody unreachable


def _is_flow_nudge(reply: Reply) -> bool:
    """A home-practice or questions nudge (its buttons are the flows'), not a calendar reminder
    (attendance buttons, or none for the discharge message)."""
    return any(b.payload.split(":")[0] in "pxqm" for row in reply.buttons for b in row)


async def test_reminders_are_at_local_times_across_the_clock_change(
    runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=runtime.settings.tz))
    cohort = await make_cohort(runtime, start=date(2026, 3, 30))
    person_id = await enrol(runtime, cohort, "p1")
    rows = await scheduled(runtime, person_id)
    first_evening, first_morning = rows[0], rows[1]
    # Sunday 29 March 18:00 BST is 17:00 UTC; Monday 07:45 BST is 06:45 UTC.
    assert (first_evening.slot, first_evening.due_at.hour) == ("evening", 17)
    assert (first_morning.slot, first_morning.due_at.hour, first_morning.due_at.minute) == (
        "morning",
        6,
        45,
    )
