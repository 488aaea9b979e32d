"""The friends-and-family day over the real PTB Application and the fake Bot API."""

from __future__ import annotations

import re
from datetime import datetime

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from tests.conftest import BOT_USERNAME, STAFF_ID
from tests.e2e.test_reminders_telegram import enrolled
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI

LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(g_[A-Za-z0-9_-]+)")


def asked(text: str | None) -> bool:
    """The staff notice carrying the guest's question."""
    return "Is parking free?" in (text or "")


async def test_a_patient_invites_a_guest_who_answers_and_is_reminded(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    clock: ManualClock,
    staff_group: FakeGroup,
) -> None:
    patient = await enrolled(api, runtime, 7101)
    (overview,) = await patient.ask("/family")
    assert "Wednesday 16 December 2026" in overview.text
    assert overview.labels == ["Invite someone"]
    made, forwardable = await patient.tap("Invite someone", overview)
    assert "forward the next message" in made.text
    found = LINK.search(forwardable.text)
    assert found is not None and forwardable.labels == []

    guest = api.user(7102, first_name="Sam")
    welcome, prompt = await guest.ask(f"/start {found.group(1)}", expect=2)
    assert welcome.text.startswith("Hello. Robin has invited you")
    assert welcome.parse_mode is None
    assert prompt.labels == ["Yes, I'll come", "No, I can't come"]
    (name_prompt,) = await guest.tap("Yes, I'll come", prompt)
    (access_prompt,) = await guest.tap("Call me Sam", name_prompt)
    assert access_prompt.labels == ["Nothing needed"]
    await guest.ask("A chair with arms, please")
    (done,) = await guest.ask("Is parking free?")
    assert done.text.startswith("Thank you, Sam.")
    await api.wait_for(lambda: any(asked(m.text) for m in staff_group.messages))
    (question,) = [m for m in staff_group.messages if asked(m.text)]
    assert "Robin" not in (question.text or "")

    # Someone else opens the same link: a kind word, nothing about the day or the patient.
    other = api.user(7103, first_name="Kim")
    (taken,) = await other.ask(f"/start {found.group(1)}")
    assert "this invitation is for someone else" in taken.text and "Robin" not in taken.text

    # A guest trying a patient's command.
    (kind,) = await guest.ask("/today")
    assert "that is for patients on the programme" in kind.text

    (status,) = await patient.ask("/family")
    assert "1. Sam is coming" in status.text

    before = len(guest.messages)
    clock.set(datetime(2026, 12, 15, 18, 0, tzinfo=runtime.settings.tz))
    await service.dispatcher.drain()
    await api.wait_for(lambda: len(guest.messages) > before)
    assert guest.last.text.startswith("Hello Sam. A reminder: the friends and family day")
    clock.set(datetime(2026, 12, 16, 8, 0, tzinfo=runtime.settings.tz))
    await service.dispatcher.drain()
    await api.wait_for(lambda: (guest.last.text or "").startswith("Good morning, Sam."))
    reminders = [m for m in guest.messages if "family day with Robin" in (m.text or "")]
    assert len(reminders) == 2
    assert not any("friends and family day" in (m.text or "") for m in other.messages[1:])


async def test_staff_opening_a_guest_link_does_not_use_it_up(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    patient = await enrolled(api, runtime, 7111)
    (overview,) = await patient.ask("/family")
    _made, forwardable = await patient.tap("Invite someone", overview)
    found = LINK.search(forwardable.text or "")
    assert found is not None
    staff = api.user(STAFF_ID, first_name="Sam")
    (reply,) = await staff.ask(f"/start {found.group(1)}")
    assert "This link is an invitation for a guest" in (reply.text or "")
    guest = api.user(7112, first_name="Kim")
    welcome, _prompt = await guest.ask(f"/start {found.group(1)}", expect=2)
    assert (welcome.text or "").startswith("Hello. Robin has invited you")
