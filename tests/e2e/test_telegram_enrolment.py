"""A patient joins through a real deep link, over the real PTB Application, polling and webhook."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.runtime import Runtime, configure_logging
from bot.app.telegram_service import TelegramService
from bot.config import Settings
from bot.db.models import InboxUpdate, Person
from bot.services.invites import deep_link
from tests.conftest import BOT_USERNAME, STAFF_CHAT_ID, STAFF_ID
from tests.e2e.conftest import at_name_step, start_service
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import inbox_unavailable, make_cohort, make_invites, put_in_form


async def eventually(predicate: Callable[[], bool], timeout: float = 5) -> None:
    """Wait until a condition about background work holds (no fixed sleeps)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def people(runtime: Runtime) -> list[Person]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Person)))


async def test_patient_enrols_through_the_deep_link(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    cohort = await make_cohort(runtime, mode="online")
    (invite,) = await make_invites(runtime, cohort)
    link = deep_link(BOT_USERNAME, invite.code)
    assert link == f"https://t.me/{BOT_USERNAME}?start={invite.code}"
    user = api.user(9001, first_name="Robin")

    # Opening the deep link makes Telegram send "/start <payload>".
    welcome, consent = await user.ask(f"/start {link.split('start=')[1]}")
    assert "You have been invited to join Tuesday Group A" in welcome.text
    assert consent.labels == ["Yes, I agree", "No, thank you"]
    assert consent.parse_mode is None  # plain text: nothing the patient types can become markup

    (ask_name,) = await user.tap("Yes, I agree")
    assert "What would you like us to call you?" in ask_name.text
    assert ask_name.labels == ["Call me Robin"]  # their Telegram first name, one tap away
    assert user.callback_answers, "the button press was answered, so the spinner stops"

    done, menu = await user.tap("Call me Robin")
    assert "You have joined Tuesday Group A" in done.text
    assert "online, by video" in done.text
    assert menu.labels == [
        "More pain or distress",
        "Today",
        "My programme",
        "Questions for the doctor",
        "Thought challenge",
        "Home practice",
        "Relaxation",
        "Friends and family day",
        "Reminder settings",
        "Help",
        "Privacy",
    ]

    (today,) = await user.tap("Today")
    assert "starts on Monday 7 December 2026" in today.text
    assert "https://video.example.org/pmp-a" in today.text

    await api.wait_for(lambda: bool(staff_group.messages))
    assert "A new patient joined Tuesday Group A (reference P" in staff_group.last.text
    assert "Robin" not in staff_group.last.text
    [person] = await people(runtime)
    assert (person.channel_user_id, person.chat_id) == ("9001", "9001")


async def test_commands_work_from_anywhere(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort)
    user = api.user(9002)
    await user.ask(f"/start {invite.code}")
    replies = await user.ask("/help")
    assert "NHS 111" in replies[0].text and "Yes, I agree" in replies[-1].labels
    replies = await user.ask("/privacy")
    assert "Who sees it" in replies[0].text
    (cancelled,) = await user.ask("/cancel")
    assert "I haven't saved anything about you" in cancelled.text
    (stranger,) = await user.ask("/menu")
    assert "I can only help people taking part" in stranger.text


async def test_non_text_messages_get_a_kind_reply(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    user = await at_name_step(api, runtime, 9003)
    for send in (user.send_sticker, user.send_photo, user.send_voice, user.send_document):
        mark = len(api.sent)
        update_id = await send()
        replies = await api.collect_new(update_id, user.chat_id, mark)
        assert "I can only read typed messages" in replies[0].text
        assert "What would you like us to call you?" in replies[-1].text
    mark = len(api.sent)
    update_id = await user.send_forwarded("Morgan")
    replies = await api.collect_new(update_id, user.chat_id, mark)
    assert "forwarded message" in replies[0].text
    assert await people(runtime) == []


async def test_long_markup_emoji_and_right_to_left_text(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    user = await at_name_step(api, runtime, 9004)
    invalid, prompt = await user.ask("x" * 4096)
    assert "can't use that as a name" in invalid.text and "call you" in prompt.text
    done, _menu = await user.ask("<b>Jo</b> *bold* _it_ 🙂 مريم")
    assert "Thank you, <b>Jo</b> *bold* _it_ 🙂 مريم." in done.text
    assert done.parse_mode is None


async def test_wrong_used_and_other_role_codes(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime)
    (patient_code,) = await make_invites(runtime, cohort)
    (staff_code,) = await make_invites(runtime, cohort, role="staff")
    (reply,) = await api.user(9005).ask("/start ZZZZZZZZ")
    assert "couldn't find that code" in reply.text
    (reply,) = await api.user(9006).ask(f"/start {staff_code.code}")
    assert "code is for members of staff" in reply.text
    (reply,) = await api.user(STAFF_ID).ask(f"/start {patient_code.code}")
    assert "code is for a patient" in reply.text
    staff = api.user(STAFF_ID)
    (ask_name,) = await staff.ask(f"/start {staff_code.code}")
    assert "staff list" in ask_name.text
    (linked,) = await staff.ask("Sam")
    assert "Your account is linked" in linked.text
    (reply,) = await api.user(9007).ask(f"/start {staff_code.code}")
    assert "already been used" in reply.text


async def test_the_same_update_delivered_twice_has_one_effect(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    user = await at_name_step(api, runtime, 9008)
    mark = len(api.sent)
    first = await user.send("Robin")
    await api.wait_processed(first)
    again = api.redeliver(first)
    assert again == first
    # Updates are handled in order, so once a later one is done the copy has been handled too.
    marker = await user.send("/privacy")
    await api.wait_processed(marker)
    replies = [m for m in api.sent[mark:] if m.chat_id == user.chat_id][:-1]
    assert [r.text.split(".")[0] for r in replies][:1] == ["Thank you, Robin"]
    assert len(replies) == 2  # "joined" and the menu, once
    assert len(await people(runtime)) == 1
    async with runtime.sessions() as session:
        rows = await session.scalar(
            select(func.count()).select_from(InboxUpdate).where(InboxUpdate.update_id == str(first))
        )
    assert rows == 1


async def test_button_on_an_old_message_and_a_button_of_someone_else(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime)
    invite_a, _invite_b = await make_invites(runtime, cohort, count=2)
    owner = api.user(9010)
    _welcome, consent = await owner.ask(f"/start {invite_a.code}")
    await owner.tap("Yes, I agree", consent)
    old, prompt = await owner.tap("No, thank you", consent)
    assert "That button is from an earlier message" in old.text
    assert "call you" in prompt.text

    intruder = api.user(9011)
    mark = len(api.sent)
    update_id = await intruder.press("Yes, I agree", consent)
    await api.wait_processed(update_id)
    assert api.sent[mark:] == []
    assert intruder.callback_answers[-1].text == "Sorry, this button is for someone else."
    assert intruder.callback_answers[-1].show_alert


async def test_forged_button_data_gets_a_reply(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    user = api.user(9012)
    await user.ask("hello")
    mark = len(api.sent)
    update_id = await user.press_data("d:999:yes", user.last)
    replies = await api.collect_new(update_id, user.chat_id, mark)
    # A stranger with a forged dialog button is told who the bot is for, nothing else.
    assert len(replies) == 1 and "I can only help people taking part" in replies[0].text


async def test_webhook_refuses_a_wrong_or_missing_secret(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    service = await start_service(runtime, api, "webhook")
    try:
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 9020, "type": "private", "first_name": "Eve"},
                "from": {"id": 9020, "is_bot": False, "first_name": "Eve"},
                "text": "hello",
            },
        }
        assert await api.post_webhook_raw(update, secret="wrong-secret") == 403
        assert await api.post_webhook_raw(update, secret=None) == 403
        assert api.messages_in(9020) == []
        assert await api.post_webhook_raw(update) == 200
    finally:
        await service.stop()


async def test_webhook_answers_only_after_the_turn_is_committed(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    service = await start_service(runtime, api, "webhook")
    try:
        user = await at_name_step(api, runtime, 9021)
        update_id = await user.send("Robin")
        await api.wait_processed(update_id)  # the webhook POST got its 200
        assert [p.display_name for p in await people(runtime)] == ["Robin"]
    finally:
        await service.stop()


async def test_polling_does_not_confirm_an_update_whose_turn_failed(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    service = await start_service(runtime, api, "polling")
    try:
        user = api.user(9022)
        async with inbox_unavailable(runtime):
            calls = sum(1 for method, _ in api.calls if method == "getUpdates")
            update_id = await user.send("hello")
            # Fetched, failed, fetched again: never confirmed while its turn cannot commit.
            await eventually(lambda: sum(1 for m, _ in api.calls if m == "getUpdates") >= calls + 3)
            assert api.last_offset is None or api.last_offset <= update_id
            assert user.messages == []
        await api.wait_processed(update_id, timeout=10)
        assert "I can only help people taking part" in user.last.text
    finally:
        await service.stop()


async def test_a_database_outage_is_waited_out_however_long(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup, tmp_path: Path
) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.app.channels.telegram import MAX_UPDATE_ATTEMPTS

    (tmp_path / "not-a-folder").write_text("")
    unreachable = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/not-a-folder/x.db")
    runtime.sessions.configure(bind=unreachable)
    service = await start_service(runtime, api, "polling", retry_base_seconds=0.005)
    try:
        user = api.user(9023)
        calls = sum(1 for method, _ in api.calls if method == "getUpdates")
        update_id = await user.send("hello")
        target = calls + MAX_UPDATE_ATTEMPTS + 3
        await eventually(lambda: sum(1 for m, _ in api.calls if m == "getUpdates") >= target)
        assert api.last_offset is None or api.last_offset <= update_id  # never passed over
        runtime.sessions.configure(bind=runtime.engine)  # the database is back
        await api.wait_processed(update_id, timeout=10)
        assert "I can only help people taking part" in user.last.text
    finally:
        await service.stop()
        await unreachable.dispose()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_logs_carry_no_message_text_names_or_token(
    mode: str,
    runtime: Runtime,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings: Settings = runtime.settings.model_copy(update={"log_level": "DEBUG"})
    configure_logging(settings)
    caplog.set_level(logging.DEBUG)  # everything our own code logs, at every level
    # httpx prints request URLs, token included, at INFO: the bot must keep it quiet.
    for noisy in ("httpx", "httpcore", "telegram"):
        assert logging.getLogger(noisy).getEffectiveLevel() >= logging.WARNING, noisy
    service = await start_service(runtime, api, mode)
    try:
        cohort = await make_cohort(runtime)
        (invite,) = await make_invites(runtime, cohort)
        user = api.user(9030)
        await user.ask(f"/start {invite.code}")
        await user.tap("Yes, I agree")
        await user.ask("Wilhelmina")
        await user.ask("my secret worry")
    finally:
        await service.stop()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "turn committed" in logged
    for secret in ("Wilhelmina", "my secret worry", invite.code, settings.telegram_bot_token):
        assert secret not in logged


async def test_commands_are_published_with_their_descriptions(
    service: TelegramService, api: FakeTelegramAPI
) -> None:
    default = '{"type": "default"}'
    published = [
        c for (scope, _lang), commands in api.commands.items() if scope == default for c in commands
    ]
    staff_scope = json.dumps({"chat_id": STAFF_CHAT_ID, "type": "chat"}, sort_keys=True)
    assert [c["command"] for c in api.commands[(staff_scope, "")]] == ["questions", "id"]
    assert [c["command"] for c in published] == [
        "menu",
        "report",
        "today",
        "schedule",
        "question",
        "challenge",
        "plan",
        "relax",
        "family",
        "settings",
        "help",
        "privacy",
        "cancel",
    ]
    assert all(c["description"] for c in published)


async def test_chatter_in_the_staff_group_is_left_alone(
    service: TelegramService, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    nurse = api.user(STAFF_ID)
    update_id = await staff_group.post(nurse, "/start anyone there?")
    await api.wait_processed(update_id)
    assert staff_group.messages == []
    assert nurse.messages == []
    # Only /id is answered there, so whoever sets the bot up can learn the group's id.
    await staff_group.post(nurse, "/id")
    await api.wait_for(lambda: bool(staff_group.messages))
    assert f"This group's chat id is {staff_group.chat_id}." in staff_group.last.text
    assert f"Your Telegram user id is {STAFF_ID}." in staff_group.last.text


async def test_anyone_can_learn_their_own_account_id(
    service: TelegramService, api: FakeTelegramAPI
) -> None:
    (reply,) = await api.user(9031).ask("/id")
    assert "Your Telegram user id is 9031." in reply.text and "group" not in reply.text


async def test_many_people_at_once_each_get_their_own_answers_in_order(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    users = [api.user(9200 + n) for n in range(12)]
    last_ids = []
    for user in users:  # everyone writes twice before the bot has answered anyone
        await user.send("/help")
        last_ids.append(await user.send("/privacy"))
    for update_id in last_ids:
        await api.wait_processed(update_id)
    for user in users:
        texts = user.texts
        assert len(texts) == 2, texts
        assert texts[0].startswith("I'm PMP Companion") and texts[1].startswith("Your privacy")


async def test_stopping_mid_round_loses_nothing_and_repeats_nothing(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    users = [api.user(9300 + n) for n in range(6)]
    service = await start_service(runtime, api, "polling")
    sent = [await user.send("/privacy") for user in users]
    await service.stop()  # whatever was fetched is finished; the rest stays with Telegram
    for update_id, user in zip(sent, users, strict=True):
        if user.texts:  # answered, so confirmed: it will not be fetched again
            assert api.last_offset is not None and api.last_offset > update_id
    restarted = await start_service(runtime, api, "polling")
    try:
        await eventually(lambda: all(user.texts for user in users))
        marker = await users[0].send("/privacy")
        await api.wait_processed(marker)
    finally:
        await restarted.stop()
    for user in users:
        expected = 2 if user is users[0] else 1
        assert len(user.texts) == expected, (user.user_id, user.texts)
        assert all(text.startswith("Your privacy") for text in user.texts)


async def test_an_update_that_always_fails_is_passed_over_so_others_are_answered(
    runtime: Runtime,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from typing import Any

    from sqlalchemy.exc import IntegrityError

    from dialogs import flows
    from dialogs.engine import Form, Step
    from dialogs.turn import Turn

    async def buggy(turn: Turn, data: dict[str, Any]) -> None:
        raise IntegrityError("INSERT ...", {}, Exception("a bug, not an outage"))

    broken = Form(
        name="test_buggy", steps=(Step("x", "common/choose_button", "text"),), finish=buggy
    )
    monkeypatch.setitem(flows.FORMS, broken.name, broken)
    await put_in_form(runtime, "telegram", "9024", broken)
    service = await start_service(runtime, api, "polling", retry_base_seconds=0.005)
    try:
        unlucky, other = api.user(9024), api.user(9025)
        poison = await unlucky.send("this triggers the bug")
        after = await other.send("hello")
        await api.wait_processed(after, timeout=10)
        assert api.last_offset is not None and api.last_offset > poison
        assert "I can only help people taking part" in other.last.text
    finally:
        await service.stop()
    assert "update skipped after repeated failures" in caplog.text


async def test_webhook_answers_500_until_the_turn_can_commit(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    service = await start_service(runtime, api, "webhook")
    try:
        user = api.user(9026)
        async with inbox_unavailable(runtime):
            update_id = await user.send("hello")
            # Telegram (here the fake) retries a non-2xx answer: wait for two refusals.
            await eventually(
                lambda: sum(1 for a in api.webhook_attempts if a.update_id == update_id) >= 2
            )
            assert {a.status for a in api.webhook_attempts if a.update_id == update_id} == {500}
            assert user.messages == []
        await api.wait_processed(update_id, timeout=10)
        assert api.webhook_attempts[-1].status == 200
        assert "I can only help people taking part" in user.last.text
    finally:
        await service.stop()
