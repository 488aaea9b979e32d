"""Cohort validation and invite codes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.runtime import Runtime
from bot.services import cohorts, invites
from bot.services.cohorts import CohortError, CohortRequest
from bot.services.invites import InviteState
from tests.helpers import make_cohort, make_invites


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
            await invites.create_invites(session, cohort.id, "doctor", 1, runtime.clock.now(), 14)
        with pytest.raises(ValueError, match="count"):
            await invites.create_invites(session, cohort.id, "patient", 0, runtime.clock.now(), 14)
