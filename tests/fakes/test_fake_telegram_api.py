"""Tests of the fake Telegram Bot API, driven by the real PTB Bot and Application."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_api import (
    SECRET_HEADER,
    FakeTelegramAPI,
    WebhookAttempt,
    polling_loop,
    serve_on_loopback,
)

CHOICES = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("Yes", callback_data="pick:yes")],
        [
            InlineKeyboardButton("No", callback_data="pick:no"),
            InlineKeyboardButton("Help", url="https://example.test/help"),
        ],
    ]
)


class FakeClock:
    """Manually advanced monotonic clock for deterministic rate-limit tests."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt into PTB's timedelta durations so its int-vs-timedelta deprecation stays quiet."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    """A fresh fake API per test, closed afterwards."""
    fake = FakeTelegramAPI(token="123456:TEST-TOKEN", bot_username="pmp_test_bot")
    yield fake
    await fake.aclose()


@pytest.fixture
async def bot(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    """A real, initialised PTB Bot talking to the fake."""
    real_bot = Bot(
        api.token,
        base_url=api.base_url,
        request=api.httpx_request(),
        get_updates_request=api.httpx_request(),
    )
    async with real_bot:
        yield real_bot


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    payload = " ".join(context.args or [])
    await update.effective_message.reply_text(f"Welcome {payload}".strip(), reply_markup=CHOICES)


async def _pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    choice = query.data.split(":", 1)[1]
    context.bot_data["picks"] = context.bot_data.get("picks", 0) + 1
    await query.answer(f"Saved {choice}")
    await query.edit_message_text(f"You chose {choice}")
    await context.bot.send_message(query.message.chat.id, "Thanks!")  # type: ignore[union-attr]


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None and update.effective_message.text is not None
    context.bot_data["seen"] = [*context.bot_data.get("seen", []), update.update_id]
    await update.effective_message.reply_text(update.effective_message.text.upper())


@pytest.fixture
async def app(api: FakeTelegramAPI) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """A real PTB Application (no Updater) fed by a hand-written getUpdates loop."""
    application = (
        ApplicationBuilder()
        .token(api.token)
        .base_url(api.base_url)
        .request(api.httpx_request())
        .get_updates_request(api.httpx_request())
        .updater(None)
        .build()
    )
    application.add_handler(CommandHandler("start", _start))
    application.add_handler(CallbackQueryHandler(_pick, pattern=r"^pick:"))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    async with application:
        poller = asyncio.create_task(polling_loop(application, poll_timeout=5))
        yield application
        poller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poller


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "pmp_test_bot")
    assert bot.username == "pmp_test_bot"


async def test_send_message_with_inline_keyboard(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5001, first_name="Robin")
    sent = await bot.send_message(user.chat_id, "Pick one", reply_markup=CHOICES)
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.chat.first_name == "Robin" and sent.text == "Pick one"
    assert sent.reply_markup == CHOICES
    assert user.last.buttons == [[("Yes", "pick:yes")], [("No", "pick:no"), ("Help", None)]]
    assert user.last.labels == ["Yes", "No", "Help"]
    assert user.texts == ["Pick one"]
    method, params = api.calls[-1]
    assert method == "sendMessage" and params["chat_id"] == 5001
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "pick:yes"


async def test_unknown_chat_is_rejected(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "hello?")


async def test_user_message_via_get_updates_and_offset_confirmation(
    api: FakeTelegramAPI, bot: Bot
) -> None:
    user = api.user(5002, username="sam_sample")
    update_id = await user.send("/start ABC")
    assert update_id >= 100_000
    first = await bot.get_updates(timeout=0)
    again = await bot.get_updates(timeout=0)  # unconfirmed updates are returned again
    assert [u.update_id for u in first] == [u.update_id for u in again] == [update_id]
    message = first[0].message
    assert message is not None and message.text == "/start ABC"
    assert message.from_user is not None and message.from_user.username == "sam_sample"
    assert message.entities[0].type == "bot_command"
    assert (message.entities[0].offset, message.entities[0].length) == (0, 6)

    processed = asyncio.create_task(api.wait_processed(update_id, timeout=2))
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
    await processed
    # Confirmed updates are gone for good, even with a lower offset.
    assert await bot.get_updates(offset=update_id, timeout=0) == ()

    # A long poll returns as soon as an update arrives.
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(offset=update_id + 1, timeout=10))
    await api.wait_until_polling(timeout=2)  # the poll must be parked before the user speaks
    assert api.long_polling
    sticker_id = await user.send_sticker()
    updates = await asyncio.wait_for(poll, 2)
    assert loop.time() - started < 1
    assert [u.update_id for u in updates] == [sticker_id]
    assert updates[0].message is not None and updates[0].message.sticker is not None


async def test_other_update_kinds_parse(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5003)
    ids = [
        await user.send_photo(caption="my hand"),
        await user.send_voice(),
        await user.send_document(),
        await user.send_forwarded("from a friend"),
    ]
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == ids
    photo, voice, document, forwarded = (u.message for u in updates)
    assert photo is not None and len(photo.photo) == 3 and photo.text is None
    assert (
        voice is not None
        and voice.voice is not None
        and voice.voice.duration == dtm.timedelta(seconds=3)
    )
    assert document is not None and document.document is not None
    assert forwarded is not None and forwarded.forward_origin is not None
    assert forwarded.forward_origin.type == "user"


async def test_conversation_through_application(
    api: FakeTelegramAPI, app: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    user = api.user(5004, first_name="Jo")
    replies = await user.ask("/start XYZ")
    assert [m.text for m in replies] == ["Welcome XYZ"]
    assert replies[0].labels == ["Yes", "No", "Help"]

    tapped = await user.tap("No")
    assert [m.text for m in tapped] == ["Thanks!"]
    edited = replies[0]
    assert edited.edited and edited.text == "You chose no"
    assert edited.buttons == []  # an edit without reply_markup drops the keyboard
    assert [a.text for a in user.callback_answers] == ["Saved no"]
    assert user.texts == ["You chose no", "Thanks!"]

    assert [m.text for m in await user.ask("hello there")] == ["HELLO THERE"]
    with pytest.raises(AssertionError, match="available labels"):
        await user.press("Maybe", message=user.last)


async def test_edit_and_not_modified(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5005)
    sent = await bot.send_message(user.chat_id, "Draft", reply_markup=CHOICES)
    await bot.edit_message_text("Final", user.chat_id, sent.message_id, reply_markup=CHOICES)
    assert (user.last.text, user.last.edited, user.last.labels[0]) == ("Final", True, "Yes")
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("Final", user.chat_id, sent.message_id, reply_markup=CHOICES)
    await bot.edit_message_reply_markup(user.chat_id, sent.message_id, reply_markup=None)
    assert user.last.buttons == [] and user.last.edit_count == 2
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_reply_markup(user.chat_id, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", user.chat_id, 999)
    assert await bot.delete_message(user.chat_id, sent.message_id)
    assert user.messages == [] and api.sent[0].deleted


async def test_bad_requests(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5006)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(user.chat_id, "x" * 4097)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(user.chat_id, "   ")
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(user.chat_id, "hi", reply_markup=too_long)
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(user.chat_id, "<b>unclosed", parse_mode=ParseMode.HTML)
    assert api.sent == [] and api.stats["400"] == 4
    # Exactly 4096 characters is fine.
    await bot.send_message(user.chat_id, "y" * 4096)
    assert len(user.last.text or "") == 4096


async def test_html_is_parsed_into_entities(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5007)
    sent = await bot.send_message(
        user.chat_id, "  <b>Hi</b> &amp; <a href='https://x.test'>bye</a> 💪\n", parse_mode="HTML"
    )
    assert sent.text == "Hi & bye 💪"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 2),
        ("text_link", 5, 3),
    ]
    assert user.last.source_text is not None and user.last.source_text.startswith("  <b>")


async def test_retry_after(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5008)
    api.fail_next("sendMessage", status=429, retry_after=5, chat_id=user.chat_id)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(user.chat_id, "reminder")
    assert caught.value.retry_after == dtm.timedelta(seconds=5)
    await bot.send_message(user.chat_id, "reminder")  # only the next call failed
    assert user.texts == ["reminder"] and api.stats["429"] == 1


async def test_rate_limits_with_injected_clock() -> None:
    clock = FakeClock()
    api = FakeTelegramAPI(global_rate=3, per_chat_rate=1.0, clock=clock)
    first, second = api.user(6001), api.user(6002)
    async with Bot(api.token, base_url=api.base_url, request=api.httpx_request()) as limited:
        await limited.send_message(first.chat_id, "one")
        with pytest.raises(RetryAfter) as caught:
            await limited.send_message(first.chat_id, "two")
        assert caught.value.retry_after == dtm.timedelta(seconds=1)
        await limited.send_message(second.chat_id, "other chat is fine")
        clock.value += 1.0
        await limited.send_message(first.chat_id, "two")
    assert first.texts == ["one", "two"] and api.stats["429"] == 1
    await api.aclose()


async def test_block_gives_forbidden_and_member_update(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5009)
    update_id = api.block(user.user_id)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(user.chat_id, "are you there?")
    (update,) = await bot.get_updates(timeout=0)
    assert update.update_id == update_id and update.my_chat_member is not None
    member = update.my_chat_member
    assert (member.old_chat_member.status, member.new_chat_member.status) == ("member", "kicked")
    api.fail_next("sendMessage", status=403)
    api.unblock(user.user_id)
    with pytest.raises(Forbidden):
        await bot.send_message(user.chat_id, "injected 403")


async def test_unknown_method_and_wrong_token(api: FakeTelegramAPI, bot: Bot) -> None:
    async with httpx.AsyncClient(transport=api.transport) as client:
        unknown = await client.post(f"{api.base_url}{api.token}/fooBar")
        wrong = await client.post(f"{api.base_url}999:WRONG/getMe")
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("fooBar")


async def test_send_document_multipart(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5010)
    payload = b"date,score\r\n--boundary-lookalike\r\n\x00\xff\xfe binary\r\n"
    sent = await bot.send_document(
        user.chat_id, document=payload, filename="weekly report.csv", caption="Your week"
    )
    doc = user.last.document
    assert doc is not None and doc.filename == "weekly report.csv" and doc.data == payload
    assert user.last.caption == "Your week" and user.texts == ["Your week"]
    assert sent.document is not None and sent.document.file_name == "weekly report.csv"
    assert sent.document.file_size == len(payload)
    # Re-sending by file_id reuses the stored file.
    await bot.send_document(user.chat_id, document=sent.document.file_id)
    assert user.last.document is not None and user.last.document.data == payload


async def test_group_press_by_another_user(api: FakeTelegramAPI, bot: Bot) -> None:
    staff = api.group(-1001234567890, "Programme staff")
    nurse, physio = api.user(7001, "Dana"), api.user(7002, "Kit")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ack", callback_data="ack:1")]])
    await bot.send_message(staff.chat_id, "Alert: patient 17", reply_markup=keyboard)
    post_id = await staff.post(nurse, "/status@pmp_test_bot")
    press_id = await physio.press("Ack", message=staff.last)
    post, press = await bot.get_updates(timeout=0)
    assert post.update_id == post_id and post.message is not None
    assert post.message.chat.type == "supergroup" and post.message.entities[0].length == 20
    assert press.update_id == press_id and press.callback_query is not None
    query = press.callback_query
    assert query.from_user.first_name == "Kit" and query.data == "ack:1"
    assert query.message is not None and query.message.chat.id == staff.chat_id
    await bot.answer_callback_query(query.id, "Acknowledged", show_alert=True)
    assert physio.callback_answers[0].show_alert and nurse.callback_answers == []
    assert staff.texts == ["Alert: patient 17"] and nurse.messages == []
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)


async def test_redeliver_same_update_id(
    api: FakeTelegramAPI, app: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    user = api.user(5011)
    assert [m.text for m in await user.ask("once")] == ["ONCE"]
    first_id = app.bot_data["seen"][0]
    redelivered = api.redeliver(first_id)  # already confirmed: must still arrive again
    await api.wait_processed(redelivered, timeout=2)
    assert redelivered == first_id and app.bot_data["seen"] == [first_id, first_id]
    assert user.texts == ["ONCE", "ONCE"]


async def test_wait_for_times_out_with_context(api: FakeTelegramAPI, bot: Bot) -> None:
    user = api.user(5012)
    await bot.send_message(user.chat_id, "last words")
    waiter = asyncio.create_task(api.wait_for(lambda: len(user.messages) == 2, timeout=2))
    await bot.send_message(user.chat_id, "second")
    await waiter
    with pytest.raises(AssertionError, match="last words"):
        await api.wait_for(lambda: False, timeout=0.05)
    with pytest.raises(AssertionError, match="never enqueued"):
        await api.wait_processed(1)


async def test_commands_and_webhook_info(api: FakeTelegramAPI, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Begin"), ("help", "Get help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0
    chat = await bot.get_chat(api.user(5013, "Lee").chat_id)
    assert chat.first_name == "Lee" and chat.type == "private"
    assert await bot.close() and await bot.log_out()


def _webhook_app(received: list[tuple[dict[str, Any], str | None]], fail_first: int) -> Starlette:
    """A tiny bot-side webhook endpoint that checks the secret and fails the first N posts."""

    async def telegram(request: Request) -> Response:
        secret = request.headers.get(SECRET_HEADER)
        if secret != "s3cret-Token_1":
            return Response(status_code=403)
        received.append((json.loads(await request.body()), secret))
        if len(received) <= fail_first:
            return Response(status_code=500)
        return Response(status_code=200)

    return Starlette(routes=[Route("/telegram", telegram, methods=["POST"])])


async def test_webhook_push_with_secret_and_retry(api: FakeTelegramAPI, bot: Bot) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    api.webhook_transport = httpx.ASGITransport(app=_webhook_app(received, fail_first=1))
    user = api.user(5014)
    await bot.set_webhook("https://bot.test/telegram", secret_token="s3cret-Token_1")
    first = await user.send("first")
    second = await user.send("second")
    await api.wait_processed(second, timeout=2)
    assert api.webhook_attempts == [
        WebhookAttempt(first, 500),
        WebhookAttempt(first, 200),
        WebhookAttempt(second, 200),
    ]
    assert [body["update_id"] for body, _ in received] == [first, first, second]
    assert received[2][0]["message"]["text"] == "second"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.test/telegram" and info.pending_update_count == 0
    assert await api.post_webhook_raw({"update_id": 1}, secret="wrong") == 403
    assert await api.post_webhook_raw({"update_id": 1}, secret=None) == 403
    assert await api.post_webhook_raw({"update_id": 1}) == 200

    await bot.delete_webhook()
    later = await user.send("back to polling")
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [later]


async def test_asgi_app_in_process_and_on_loopback(api: FakeTelegramAPI) -> None:
    transport = httpx.ASGITransport(app=api.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        response = await client.post(f"/bot{api.token}/getMe")
    assert response.json()["result"]["username"] == "pmp_test_bot"

    # Real uvicorn on 127.0.0.1.
    async with serve_on_loopback(api) as base_url:
        api.user(5015)
        async with Bot(api.token, base_url=base_url, request=_plain_request()) as real_bot:
            sent = await real_bot.send_message(5015, "over TCP")
        assert sent.text == "over TCP" and api.users[5015].texts == ["over TCP"]


def _plain_request() -> Any:
    from telegram.request import HTTPXRequest

    # No proxies from the environment for loopback traffic.
    return HTTPXRequest(httpx_kwargs={"trust_env": False})
