"""Home practice and relaxation over the real PTB Application and the fake Bot API: the nudge
after day 1, the plan, the check-in before day 2's review, and a guided relaxation."""

from __future__ import annotations

from datetime import datetime

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from tests.e2e.test_reminders_telegram import enrolled
from tests.fakes.telegram_api import FakeTelegramAPI

# The group starts on Monday 7 December 2026; times are Europe/London (GMT).
AFTER_DAY_1 = datetime(2026, 12, 7, 15, 30)
BEFORE_DAY_2 = datetime(2026, 12, 8, 8, 0)


async def test_plan_after_the_day_check_in_before_the_review_and_relax(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    clock: ManualClock,
) -> None:
    user = await enrolled(api, runtime, 7201)
    clock.set(AFTER_DAY_1.replace(tzinfo=runtime.settings.tz))
    await service.dispatcher.drain()
    await api.wait_for(lambda: any("Well done for today" in t for t in user.texts))
    nudge = next(m for m in user.messages if "Well done for today" in (m.text or ""))
    assert nudge.labels == ["Set my practice"]

    (tonight,) = await user.tap("Set my practice", nudge)
    assert "What would you like to practise tonight?" in tonight.text
    await user.tap("Relaxation", tonight)
    (morning,) = await user.ask("10 minutes of *breathing* at 9pm")
    assert "And tomorrow morning?" in morning.text
    await user.tap("Movement", morning)
    (saved,) = await user.ask("a 5-minute walk after breakfast")
    assert "- Tonight: Relaxation, 10 minutes of *breathing* at 9pm" in saved.text
    assert saved.parse_mode is None  # their words are never read as markup
    assert "On Tuesday 8 December, before the 09:30 review, I will ask how it went." in saved.text

    before = len(user.messages)
    clock.set(BEFORE_DAY_2.replace(tzinfo=runtime.settings.tz))
    await service.dispatcher.drain()
    await api.wait_for(
        lambda: any("how did your home practice go" in t for t in user.texts[before:])
    )
    check = next(m for m in user.messages[before:] if "home practice go" in (m.text or ""))
    assert "- Morning: Movement, a 5-minute walk after breakfast" in check.text
    (first,) = await user.tap("Tell you how it went", check)
    assert "How did last night's practice go?" in first.text
    (second,) = await user.tap("Done", first)
    (why,) = await user.tap("Partly", second)
    assert why.labels == ["Skip"]
    (done,) = await user.ask("I was tired after the walk")
    assert "ready for the 09:30 review" in done.text
    assert "(done)" in done.text and "(partly done)" in done.text
    assert "What got in the way: I was tired after the walk" in done.text

    (menu,) = await user.ask("/relax")
    assert menu.labels == ["Calm breathing", "Body scan"]
    (script,) = await user.tap("Calm breathing", menu)
    assert "Calm breathing (about 3 minutes)" in script.text
