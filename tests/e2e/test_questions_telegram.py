"""Questions for the doctor over the real PTB Application and the fake Bot API: a patient
sends two, changes one and withdraws the other; staff ask for the list in the staff group and
receive it as a file."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from bot.db.models import DoctorQuestion
from tests.conftest import STAFF_ID
from tests.e2e.test_reminders_telegram import enrolled
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI

WHILE_OPEN = datetime(2026, 12, 18, 12, 0, tzinfo=UTC)  # the session is on 22 December


async def test_a_patient_sends_changes_and_withdraws_and_staff_get_the_file(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    clock: ManualClock,
    staff_group: FakeGroup,
) -> None:
    patient = await enrolled(api, runtime, 7301)
    clock.set(WHILE_OPEN)
    # The invitation to send questions is due by now: let it arrive first, so it does not land
    # in the middle of the conversation below.
    await service.dispatcher.drain()
    await api.wait_for(lambda: any("send questions" in t for t in patient.texts))
    await patient.ask("/question")
    await patient.tap("Ask a question")
    await patient.ask("Will my pain ever go away?")
    (saved,) = await patient.tap("Say my first name with it")
    assert "on the list for the doctor, with your first name" in (saved.text or "")
    await patient.tap("Ask another question")
    await patient.ask("Can I drive on my *medication*?")
    await patient.tap("Ask anonymously")

    listed = await patient.tap("See my questions")
    first = next(m for m in listed if "1. Will my pain ever go away?" in (m.text or ""))
    second = next(m for m in listed if "2. Can I drive" in (m.text or ""))
    assert first.labels == ["Change it", "Withdraw it"]
    await patient.tap("Change it", first)
    await patient.ask("Will my pain ever go away for good?")
    (changed,) = await patient.tap("Ask anonymously")
    assert "Your question is changed, asked anonymously" in (changed.text or "")
    await patient.tap("Withdraw it", second)
    (done,) = await patient.tap("Yes, withdraw it")
    assert "off the list" in (done.text or "")
    async with runtime.sessions() as session:
        found = list(await session.scalars(select(DoctorQuestion).order_by(DoctorQuestion.id)))
    assert [(q.text, q.status, q.share_name) for q in found] == [
        ("Will my pain ever go away for good?", "open", False),
        ("Can I drive on my *medication*?", "withdrawn", False),
    ]

    nurse = api.user(STAFF_ID, first_name="Sam")
    await nurse.ask("/questions", chat=staff_group)
    await api.wait_for(lambda: any(m.document is not None for m in staff_group.messages))
    (message,) = [m for m in staff_group.messages if m.document is not None]
    assert message.document is not None
    assert message.document.filename.startswith("questions-group-")
    text = message.document.data.decode("utf-8")
    assert "- Anonymous: Will my pain ever go away for good?" in text
    assert "Robin" not in text and "drive" not in text
    assert any("It follows as a file" in (m.text or "") for m in staff_group.messages)

    # Someone not on the staff list gets nothing from the group command.
    before = len(staff_group.messages)
    await patient.ask("/questions", chat=staff_group)
    assert not any(m.document is not None for m in staff_group.messages[before:])
