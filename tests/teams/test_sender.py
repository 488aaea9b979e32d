"""The Teams sender: what the Bot Connector answers becomes the outbox's delivery outcomes,
each conversation is kept inside Teams' limits, and only allowed hosts are called."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app.channels import teams_sender as teams_module
from bot.app.channels.teams_auth import NoToken
from bot.app.channels.teams_conversations import Conversations, Reference, ServiceUrls
from bot.app.channels.teams_sender import TeamsBotSender, _Pace, card_words
from bot.app.runtime import Runtime
from bot.messages import (
    ChatBusy,
    DeliveryError,
    PermanentDeliveryError,
    RecipientBlocked,
    Reply,
)
from tests.fakes.bot_connector import FakeBotConnector
from tests.teams.support import connector

__all__ = ["connector"]

CHANNEL = "19:FakeStaffChannel@thread.tacv2"
PERSONAL = "a:1FakePersonalChat"


@pytest.fixture
async def sender(runtime: Runtime, connector: FakeBotConnector) -> AsyncIterator[TeamsBotSender]:
    conversations = Conversations(runtime.sessions, ServiceUrls((), anonymous=True))
    url = connector.service_url
    conversations.remember(Reference(CHANNEL, url, "tenant", "channel"))
    conversations.remember(Reference(PERSONAL, url, "tenant", "personal", "29:1patient"))
    made = TeamsBotSender(
        conversations,
        NoToken(),
        card_words(runtime.content),
        runtime.settings,
        runtime.clock,
        timeout=0.5,
    )
    yield made
    await made.aclose()


async def test_a_message_is_posted_and_its_id_returned(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    sent_id = await sender.send(PERSONAL, Reply("Hello"))
    (posted,) = connector.sent(PERSONAL)
    assert posted["id"] == sent_id and posted["text"] == "Hello"


async def test_a_personal_chat_is_found_by_its_owner(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    await sender.send("29:1patient", Reply("Hello"))
    assert len(connector.sent(PERSONAL)) == 1


async def test_429_asks_to_wait_as_long_as_teams_said(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    connector.fail_next(429, retry_after="7")
    with pytest.raises(DeliveryError) as raised:
        await sender.send(CHANNEL, Reply("Alert"))
    assert raised.value.retry_after == 7.0
    assert not isinstance(raised.value, PermanentDeliveryError)


async def test_403_in_a_personal_chat_means_the_person_removed_the_app(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    connector.fail_next(403)
    with pytest.raises(RecipientBlocked):
        await sender.send(PERSONAL, Reply("Reminder"))


async def test_403_in_the_staff_channel_is_a_refused_route_not_a_blocked_patient(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    connector.fail_next(403)
    with pytest.raises(PermanentDeliveryError) as raised:
        await sender.send(CHANNEL, Reply("Alert"))
    assert not isinstance(raised.value, RecipientBlocked)


@pytest.mark.parametrize("status", [500, 502, 503, 408])
async def test_server_errors_are_tried_again(
    sender: TeamsBotSender, connector: FakeBotConnector, status: int
) -> None:
    connector.fail_next(status)
    with pytest.raises(DeliveryError) as raised:
        await sender.send(CHANNEL, Reply("Alert"))
    assert not isinstance(raised.value, PermanentDeliveryError)


async def test_a_hanging_connector_times_out_as_a_retry(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    connector.hang_next(seconds=5)
    with pytest.raises(DeliveryError) as raised:
        await sender.send(CHANNEL, Reply("Alert"))
    assert not isinstance(raised.value, PermanentDeliveryError)
    connector.release()


async def test_an_unknown_conversation_is_refused_for_good(sender: TeamsBotSender) -> None:
    with pytest.raises(PermanentDeliveryError):
        await sender.send("19:NeverSeen@thread.tacv2", Reply("Alert"))


async def test_editing_a_card_replaces_it(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    sent_id = await sender.send(CHANNEL, Reply("First"))
    assert sent_id is not None
    await sender.edit(CHANNEL, sent_id, Reply("Second"))
    assert connector.current(CHANNEL, sent_id)["text"] == "Second"


async def test_each_conversation_is_kept_inside_teams_limits_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(teams_module.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(teams_module.asyncio, "sleep", sleep)
    pace = _Pace()
    for _ in range(7):
        await pace.wait("a")
    assert slept == []  # seven in a second are fine
    # Ten more asking at the same moment: each gets the next free moment, in order.
    for _ in range(10):
        await pace.wait("a")
    assert slept == sorted(slept) and 0 < slept[0] <= 1.0 and slept[-1] <= 2.0
    slept.clear()
    await pace.wait("b")  # another conversation does not wait
    assert slept == []
    for _ in range(60):
        await pace.wait("c")
        now[0] += 0.2
    # Sixty in twelve seconds: the next would wait 18 s for the first to be 30 s old, which
    # is too long to hold a row: it is handed back, to be sent when Teams would take it.
    with pytest.raises(ChatBusy) as raised:
        await pace.wait("c")
    assert raised.value.retry_after is not None and 17.0 <= raised.value.retry_after <= 18.0


async def test_only_allowed_hosts_are_ever_called(runtime: Runtime) -> None:
    conversations = Conversations(runtime.sessions, ServiceUrls(("smba.trafficmanager.net",)))
    # A reference to anywhere else is never kept, so nothing can be sent there.
    assert not conversations.remember(
        Reference("a:x", "https://attacker.example/", None, "personal")
    )
    sender = TeamsBotSender(
        conversations, NoToken(), card_words(runtime.content), runtime.settings, runtime.clock
    )
    with pytest.raises(PermanentDeliveryError):
        await sender.send("a:x", Reply("Hello"))
    await sender.aclose()
    await asyncio.sleep(0)


async def test_a_document_is_sent_as_its_text(
    sender: TeamsBotSender, connector: FakeBotConnector
) -> None:
    # Teams bots cannot simply attach a file in a chat: the doctor's list comes as text.
    await sender.send(PERSONAL, Reply("# Questions\n\n1. Can I drive?", document_name="q.md"))
    (posted,) = connector.sent(PERSONAL)
    assert posted["text"] == "# Questions\n\n1. Can I drive?" and posted["textFormat"] == "plain"
