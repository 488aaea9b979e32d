"""Everyday words over the real PTB Application and the fake Bot API: thanks gets a warm word
and the menu; "I can't come tomorrow" tells the team after one tap."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from tests.e2e.test_escalations_telegram import enrolled
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI


async def test_thanks_and_cant_come_tomorrow_in_own_words(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    staff_group: FakeGroup,
    clock: ManualClock,
) -> None:
    user = await enrolled(api, runtime, 7701)
    (thanks,) = await user.ask("thanks so much!")
    assert (thanks.text or "").startswith("You're welcome, Robin.")
    assert "Samaritans" not in (thanks.text or "")
    assert thanks.labels[0] == "More pain or distress"

    clock.set(datetime(2026, 12, 6, 17, 0, tzinfo=UTC))  # Sunday, before the evening reminder
    replies = await user.ask("I can't come tomorrow, my back has gone")
    # Only the offer: any reminder falls due at 18:00, and nothing else is said.
    (offer,) = [r for r in replies if "Shall I tell the team" in (r.text or "")]
    assert len(replies) == 1
    assert "Shall I tell the team you can't come to day 1 (Monday 7 December)?" in (
        offer.text or ""
    )
    (done,) = await user.tap("Yes, tell the team", offer)
    assert "I have let the team know you can't come to day 1" in (done.text or "")
    await api.wait_for(
        lambda: any("can't come to day 1" in (m.text or "") for m in staff_group.messages)
    )
    notice = next(m for m in staff_group.messages if "can't come to day 1" in (m.text or ""))
    assert "Robin" not in (notice.text or "")  # the reference only in the group
