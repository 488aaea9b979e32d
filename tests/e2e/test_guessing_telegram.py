"""Guessing and oversized requests, over the real PTB Application and the fake Bot API: wrong
joining codes and guest links pause the account and tell staff once; a huge webhook body is
refused before it is read; someone taken off the staff list is not told they are on it."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from bot.db.models import Person
from tests.conftest import STAFF_ID
from tests.e2e.conftest import start_service
from tests.e2e.test_escalations_telegram import enrolled
from tests.e2e.test_family_telegram import LINK
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import make_cohort, make_invites

WAIT = "Several codes or links in a row have not worked"
GUESSING = "Possible guessing"


def notices(group: FakeGroup) -> list[str]:
    """The staff group's notices about guessing."""
    return [m.text or "" for m in group.messages if GUESSING in (m.text or "")]


async def test_wrong_codes_pause_the_account_even_for_a_right_one_and_tell_staff_once(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    staff_group: FakeGroup,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    guesser = api.user(7601, first_name="Eve")
    with caplog.at_level(logging.INFO):
        for n in range(5):
            (reply,) = await guesser.ask(f"/start ZZZZZZZ{n + 2}")  # well-formed, not issued
            assert "couldn't find that code" in (reply.text or "")
        (reply,) = await guesser.ask(f"/start {invite.code}")
    assert WAIT in (reply.text or "")  # the right code waits too: guessing needs more than luck
    await api.wait_for(lambda: len(notices(staff_group)) == 1)
    (notice,) = notices(staff_group)
    assert "7601" in notice and "Eve" not in notice
    assert "a wrong code" in caplog.text and "ZZZZ" not in caplog.text
    # Typed, not a link: the same pause.
    (typed,) = await guesser.ask(invite.code)
    assert WAIT in (typed.text or "")
    clock.advance(timedelta(minutes=16))
    joined = await guesser.ask(f"/start {invite.code}")
    assert "You have been invited to join" in (joined[0].text or "")
    assert len(notices(staff_group)) == 1  # told once per burst
    # Someone else is not held up by Eve's guesses.
    (other_invite,) = await make_invites(runtime, await make_cohort(runtime))
    other = api.user(7602)
    (welcome, *_rest) = await other.ask(f"/start {other_invite.code}")
    assert "You have been invited to join" in (welcome.text or "")


async def test_wrong_guest_links_pause_the_account(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7603)
    (overview,) = await patient.ask("/family")
    _made, forwardable = await patient.tap("Invite someone", overview)
    found = LINK.search(forwardable.text or "")
    assert found is not None
    guesser = api.user(7604, first_name="Mal")
    for n in range(5):
        (reply,) = await guesser.ask(f"/start g_notarealtoken{n}xx")
        assert "this invitation link doesn't work" in (reply.text or "")
    (reply,) = await guesser.ask(f"/start {found.group(1)}")
    assert WAIT in (reply.text or "")
    await api.wait_for(lambda: len(notices(staff_group)) == 1)
    guest = api.user(7605, first_name="Kim")
    welcome = await guest.ask(f"/start {found.group(1)}", expect=2)
    assert WAIT not in (welcome[0].text or "")  # the real guest is not held up


async def test_a_huge_webhook_body_is_refused_before_it_is_read(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    service = await start_service(runtime, api, "webhook")
    settings = service.runtime.settings
    headers = {"X-Telegram-Bot-Api-Secret-Token": settings.webhook_secret_token}
    try:
        async with httpx.AsyncClient() as client:
            declared = await client.post(
                settings.webhook_url, content=b"x" * 10_000_000, headers=headers
            )
            assert declared.status_code == 413

            async def chunks():  # type: ignore[no-untyped-def]
                for _ in range(100):
                    yield b"y" * 100_000

            undeclared = await client.post(settings.webhook_url, content=chunks(), headers=headers)
            assert undeclared.status_code == 413
            normal = await client.post(
                settings.webhook_url, json={"update_id": 5, "poll": {}}, headers=headers
            )
            assert normal.status_code == 200  # unreadable, confirmed and passed over
    finally:
        await service.stop()


async def test_someone_taken_off_the_staff_list_is_not_told_they_are_on_it(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    (invite,) = await make_invites(runtime, await make_cohort(runtime), role="staff")
    nurse = api.user(STAFF_ID, first_name="Sam")
    await nurse.ask(f"/start {invite.code}")
    await nurse.ask("Sam")
    (menu,) = await nurse.ask("/menu")
    assert "You are on the staff list" in (menu.text or "")
    service.runtime.settings.staff_telegram_ids.remove(STAFF_ID)
    try:
        (menu,) = await nurse.ask("/menu")
        assert "no longer on the staff list" in (menu.text or "")
        assert "You are on the staff list" not in (menu.text or "")
    finally:
        service.runtime.settings.staff_telegram_ids.append(STAFF_ID)
    async with runtime.sessions() as session:
        (person,) = await session.scalars(select(Person).where(Person.role == "staff"))
    assert person.display_name == "Sam"
