"""Cohort validation and invite codes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Cohort
from bot.services import cohorts, events, invites
from bot.services.cohorts import CohortError, CohortRequest
from bot.services.invites import InviteError, InviteState
from tests.helpers import make_cohort, make_invites

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            CohortRequest("A", date(2026, 12, 8), "online", video_link="https://v.example.org"),
            "Monday",
        ),
        (CohortRequest("A", date(2026, 12, 7), "in-person"), "--location"),
        (CohortRequest("A", date(2026, 12, 7), "online"), "--video-link"),
        (CohortRequest("A", date(2026, 12, 7), "online", video_link="javascript:x"), "https://"),
        (CohortRequest("", date(2026, 12, 7), "in-person", location="Room 1"), "name"),
        (CohortRequest("A", date(2026, 12, 7), "hybrid"), "mode"),
    ],
)
def test_bad_cohort_requests_are_explained(request_: CohortRequest, message: str) -> None:
    with pytest.raises(CohortError, match=message):
        cohorts.validate(request_)


def test_codes_are_unambiguous_and_deep_link_safe() -> None:
    codes = {invites.new_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == 8 and not set(code) & set("01OIL")
        assert invites.normalise_code(invites.pretty_code(code).lower()) == code
    assert invites.deep_link("pmp_bot", "ABCDEFGH") == "https://t.me/pmp_bot?start=ABCDEFGH"


@pytest.mark.parametrize("typed", ["", "hello", "ABCDEFG", "ABCDEFGHJ", "ABCD-EFG0", "<script>"])
def test_things_that_are_not_codes(typed: str) -> None:
    assert invites.normalise_code(typed) is None


async def test_check_code_states(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime)
    fresh, used = await make_invites(runtime, cohort, count=2)
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        assert (await invites.check_code(session, fresh.code, now)).state is InviteState.VALID
        assert (await invites.check_code(session, "ZZZZZZZZ", now)).state is InviteState.NOT_FOUND
        assert await invites.claim(session, used.id, person_id=None, now=now)  # type: ignore[arg-type]
        assert (await invites.check_code(session, used.code, now)).state is InviteState.USED
        assert not await invites.claim(session, used.id, person_id=None, now=now)  # type: ignore[arg-type]
        later = now + timedelta(days=14)
        assert (await invites.check_code(session, fresh.code, later)).state is InviteState.EXPIRED


async def test_invite_counts_and_roles_are_checked(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(ValueError, match="role"):
            await invites.create_invites(
                session, cohort.id, "doctor", 1, runtime.clock.now(), 14, LONDON
            )
        with pytest.raises(ValueError, match="count"):
            await invites.create_invites(
                session, cohort.id, "patient", 0, runtime.clock.now(), 14, LONDON
            )


@pytest.mark.parametrize(
    ("first_day", "expires"),
    [
        # Winter: the end of Monday 11 January is midnight GMT.
        (date(2027, 1, 11), datetime(2027, 1, 12, 0, 0, tzinfo=UTC)),
        # Summer: midnight in London is 23:00 UTC.
        (date(2027, 6, 7), datetime(2027, 6, 7, 23, 0, tzinfo=UTC)),
        # A group starting within the fortnight: the usual fourteen days are longer.
        (date(2026, 12, 7), datetime(2026, 12, 10, 10, 0, tzinfo=UTC)),
    ],
)
def test_an_invite_lasts_until_the_end_of_the_first_day_at_least(
    first_day: date, expires: datetime
) -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert invites.expiry(now, 14, first_day, LONDON) == expires


async def test_invites_follow_a_first_day_that_staff_moved(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=date(2027, 1, 11))
    async with runtime.sessions() as session, session.begin():
        await events.move_event(
            session, cohort, "day", 1, date(2027, 1, 7), runtime.clock.now().date()
        )
    (invite,) = await make_invites(runtime, cohort)
    assert invite.expires_at == datetime(2027, 1, 8, 0, 0, tzinfo=UTC)


async def test_no_invites_for_a_group_whose_last_day_has_passed(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=date(2026, 11, 2))  # day 12: Thursday 19 November
    for role in invites.ROLES:
        with pytest.raises(InviteError, match=r"its last day was Thursday 19 November 2026\."):
            await make_invites(runtime, cohort, role=role)
    # On the last day itself a latecomer (or a locum) can still be invited.
    clock.set(datetime(2026, 11, 19, 23, 30, tzinfo=LONDON))
    (invite,) = await make_invites(runtime, cohort)
    assert invite.expires_at == clock.now() + timedelta(days=14)


async def test_a_start_in_the_past_is_refused_only_when_asked(runtime: Runtime) -> None:
    request = CohortRequest("A", date(2026, 11, 23), "in-person", location="Room 1")
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(CohortError, match="is in the past"):
            await cohorts.create_cohort(
                session, request, runtime.clock.now(), earliest=date(2026, 11, 26)
            )
        made = await cohorts.create_cohort(session, request, runtime.clock.now())
        assert made.start_date == date(2026, 11, 23)


@pytest.mark.parametrize(
    ("start", "notes"),
    [
        (date(2027, 1, 11), []),
        (date(2027, 3, 15), ["a bank holiday moves day 12 into a fourth week (Mon 05 Apr 2027)."]),
        (
            date(2026, 11, 16),
            ["the start date, Monday 16 November 2026, is in the past; reminders are only sent"
             " for what is still to come."],
        ),
    ],
)  # fmt: skip
def test_calendar_notes(start: date, notes: list[str]) -> None:
    cohort = Cohort(start_date=start)
    days = [e.on_date for e in events.default_events(cohort) if e.kind == events.DAY]
    assert cohorts.calendar_notes(cohort, days, date(2026, 11, 26)) == notes
