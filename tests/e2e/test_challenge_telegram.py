"""A thought challenge over the real PTB Application and the fake Bot API, start to end."""

from __future__ import annotations

from datetime import datetime

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from tests.e2e.test_reminders_telegram import enrolled
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI

THOUGHT = "If I walk to the shops, I will be in bed for two days"
SATURDAY_10 = datetime(2026, 11, 28, 10, 0)  # Europe/London (GMT in November)


async def test_plan_nudge_reflect_card_and_share(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    clock: ManualClock,
    staff_group: FakeGroup,
) -> None:
    user = await enrolled(api, runtime, 7101)
    await user.tap("Thought challenge")
    assert "thought or prediction you would like to test" in user.last.text
    (belief,) = await user.ask(THOUGHT)
    assert f'Your thought: "{THOUGHT}"' in belief.text
    assert belief.labels == [
        "0% - not at all",
        "25% - a little",
        "50% - partly",
        "75% - mostly",
        "100% - completely",
    ]
    await user.tap("75% - mostly", belief)
    await user.ask("Walk to the corner shop on Saturday at 10")
    await user.ask("My back will seize up")
    (when,) = await user.ask("If it rains, I will go on Sunday")
    assert "No reminder" in when.labels
    (saved,) = await user.ask("Sat 10:00")
    assert "I will nudge you at 10:00 on Saturday 28 November" in saved.text
    assert "18:00 on Sunday 6 December" in saved.text
    assert saved.parse_mode is None  # their words are never read as markup

    # The clock moves to Saturday morning: the durable scheduler sends the nudge.
    before = len(user.messages)
    clock.set(SATURDAY_10.replace(tzinfo=runtime.settings.tz))
    await service.dispatcher.drain()
    nudges = [m for m in user.messages[before:] if "time for your thought challenge" in m.text]
    assert len(nudges) == 1
    nudge = nudges[0]
    assert nudge.labels == ["I've done it: reflect now"]

    (happened,) = await user.tap("I've done it: reflect now", nudge)
    assert f'Your thought: "{THOUGHT}" (you believed it 75%)' in happened.text
    (came_true,) = await user.ask("I walked there and back, and rested after")
    await user.tap("Partly", came_true)
    await user.ask("I was sore but not in bed")
    (after,) = await user.ask("If I pace the walk, I can manage it")
    assert THOUGHT in after.text
    (card,) = await user.ask("30")
    assert "card for the 09:45 feedback session" in card.text
    assert "Belief before: 75%" in card.text and "Belief after: 30%" in card.text
    assert not any("Thought challenge shared" in (m.text or "") for m in staff_group.messages)

    (ask,) = await user.tap("Share with the team", card)
    await user.tap("Yes, share it", ask)
    await api.wait_for(lambda: "Thought challenge shared by Robin" in (staff_group.last.text or ""))
    assert "A more balanced thought: If I pace the walk, I can manage it" in staff_group.last.text

    # A forged button for a challenge that is not theirs is refused without a word about it.
    other = await enrolled(api, runtime, 7102)
    shown = await other.tap("Thought challenge")
    mark = len(other.messages)
    await api.wait_processed(await other.press_data("c:y:1", shown[-1]))
    await api.wait_for(lambda: len(other.messages) > mark)
    assert "can't find that thought challenge" in other.messages[mark].text
    assert len([m for m in staff_group.messages if "Thought challenge shared" in m.text]) == 1
