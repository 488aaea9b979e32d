"""Tests of the fake Bot Framework Connector, driven by the SDK's real ConnectorClient."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from microsoft_agents.activity import (
    Activity,
    ChannelAccount,
    ConversationParameters,
)
from microsoft_agents.hosting.core.connector.client.connector_client import ConnectorClient
from microsoft_agents.hosting.core.connector.teams.teams_connector_client import (
    TeamsConnectorClient,
)

from tests.fakes.bot_connector import (
    ADAPTIVE_CARD,
    FakeBotConnector,
    card_of,
    personal_conversation_id,
    text_of,
)
from tests.fakes.teams_activities import (
    BOT_ID,
    TENANT_ID,
    USER_AAD_ID,
    USER_ID,
    adaptive_card_attachment,
    card_action,
    channel_conversation_id,
    channel_message,
    conversation_update_bot_added,
    installation_update,
    personal_message,
)

CHANNEL_CONVERSATION = "19:FakeChannel0123@thread.tacv2;messageid=1600000000042"
PERSONAL_CONVERSATION = "a:1FakePersonal-Conversation_Id0123"
TOKEN = "fake-bearer-token"
CARD = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "How is your pain today?"}],
    "actions": [{"type": "Action.Execute", "title": "Rate", "verb": "rate", "data": {"n": 1}}],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotConnector]:
    """The fake connector, served on loopback."""
    async with FakeBotConnector() as connector:
        yield connector


@pytest.fixture
async def client(fake: FakeBotConnector) -> AsyncIterator[ConnectorClient]:
    """The SDK's real ConnectorClient pointed at the fake."""
    connector_client = ConnectorClient(endpoint=fake.service_url, token=TOKEN)
    yield connector_client
    await connector_client.close()


def message(text: str, **extra: Any) -> Activity:
    """An outgoing Teams message activity."""
    fields = {"type": "message", "text": text, "channelId": "msteams", **extra}
    return Activity.model_validate(fields)


async def test_send_records_the_activity_and_routes_ids_with_colon_at_semicolon(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """send_to_conversation: 201 with a new id; the raw id, body and token are recorded."""
    response = await client.conversations.send_to_conversation(
        CHANNEL_CONVERSATION, message("Hello", attachments=[adaptive_card_attachment(CARD)])
    )
    assert response.id
    (call,) = fake.calls
    assert (call.method, call.kind, call.status) == ("POST", "send", 201)
    assert call.conversation_id == CHANNEL_CONVERSATION
    assert call.path == f"/v3/conversations/{CHANNEL_CONVERSATION}/activities"
    assert call.authorization == f"Bearer {TOKEN}"
    assert call.response_id == response.id
    (sent,) = fake.sent(CHANNEL_CONVERSATION)
    assert sent["id"] == response.id
    assert text_of(sent) == "Hello"
    assert card_of(sent) == CARD
    assert sent["attachments"][0]["contentType"] == ADAPTIVE_CARD
    assert fake.sent("19:other@thread.tacv2") == []


async def test_no_token_sends_no_authorization(fake: FakeBotConnector) -> None:
    """ConnectorClient with token "" sends no Authorization header at all."""
    client = ConnectorClient(endpoint=fake.service_url, token="")
    try:
        await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("hi"))
    finally:
        await client.close()
    assert fake.calls[0].authorization is None


async def test_expected_token_refuses_others_with_401(fake: FakeBotConnector) -> None:
    """With expected_token set, a call bearing another token gets 401 and is refused."""
    fake.expected_token = "right-token"
    client = ConnectorClient(endpoint=fake.service_url, token="wrong-token")
    try:
        with pytest.raises(aiohttp.ClientResponseError) as info:
            await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("x"))
    finally:
        await client.close()
    assert info.value.status == 401
    assert fake.refused_count == 1
    assert fake.sent() == []


async def test_reply_records_the_replied_to_id(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """reply_to_activity posts to .../activities/{id} and gets a fresh id back."""
    response = await client.conversations.reply_to_activity(
        PERSONAL_CONVERSATION, "1600000000007", message("Thanks", reply_to_id="1600000000007")
    )
    (call,) = fake.calls_of("reply")
    assert call.activity_id == "1600000000007"
    assert call.response_id == response.id != "1600000000007"
    assert [a["id"] for a in fake.sent(PERSONAL_CONVERSATION)] == [response.id]


async def test_update_keeps_the_current_version(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """update_activity replaces the stored activity; updates() lists the new bodies."""
    posted = await client.conversations.send_to_conversation(
        CHANNEL_CONVERSATION, message("Pick one", attachments=[adaptive_card_attachment(CARD)])
    )
    assert posted.id is not None
    done = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock"}]}
    updated = await client.conversations.update_activity(
        CHANNEL_CONVERSATION,
        posted.id,
        message("Done", id=posted.id, attachments=[adaptive_card_attachment(done)]),
    )
    assert updated.id == posted.id
    current = fake.current(CHANNEL_CONVERSATION, posted.id)
    assert text_of(current) == "Done"
    assert card_of(current) == done
    assert [text_of(a) for a in fake.updates(CHANNEL_CONVERSATION, posted.id)] == ["Done"]
    assert text_of(fake.sent()[0]) == "Pick one"  # sent() keeps what was posted
    assert fake.calls_of("update")[0].status == 200


async def test_update_of_an_unknown_activity_is_404(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """An update to an id never posted to that conversation is answered 404."""
    posted = await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("a"))
    assert posted.id is not None
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await client.conversations.update_activity(
            PERSONAL_CONVERSATION, "1234", message("b", id="1234")
        )
    assert info.value.status == 404
    assert "NotFound" in info.value.message  # the SDK puts the error body in the message
    with pytest.raises(aiohttp.ClientResponseError):  # right id, wrong conversation
        await client.conversations.update_activity("a:elsewhere", posted.id, message("c"))
    assert fake.updates() == []
    with pytest.raises(KeyError):
        fake.current(PERSONAL_CONVERSATION, "1234")


async def test_sdk_update_cannot_serialise_a_timestamp(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """SDK quirk: update_activity dumps without mode="json", so a datetime field raises."""
    posted = await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("a"))
    assert posted.id is not None
    with pytest.raises(TypeError, match="not JSON serializable"):
        await client.conversations.update_activity(
            PERSONAL_CONVERSATION, posted.id, message("b", timestamp=dtm.datetime.now(dtm.UTC))
        )
    assert fake.calls_of("update") == []


async def test_delete_activity(fake: FakeBotConnector, client: ConnectorClient) -> None:
    """delete_activity removes a posted activity; deleting it again is 404."""
    posted = await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("a"))
    assert posted.id is not None
    await client.conversations.delete_activity(PERSONAL_CONVERSATION, posted.id)
    with pytest.raises(KeyError):
        fake.current(PERSONAL_CONVERSATION, posted.id)
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await client.conversations.delete_activity(PERSONAL_CONVERSATION, posted.id)
    assert info.value.status == 404


def conversation_parameters(member_id: str, **extra: Any) -> ConversationParameters:
    """ConversationParameters for a proactive 1:1 chat, as a Teams bot builds them."""
    return ConversationParameters.model_validate(
        {
            "bot": ChannelAccount(id=BOT_ID),
            "members": [ChannelAccount(id=member_id)],
            "tenant_id": TENANT_ID,
            "is_group": False,
            "channel_data": {"tenant": {"id": TENANT_ID}},
            **extra,
        }
    )


async def test_create_conversation_gives_one_user_a_stable_personal_id(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """The same single member gets the same personal conversation id every time."""
    first = await client.conversations.create_conversation(conversation_parameters(USER_ID))
    again = await client.conversations.create_conversation(conversation_parameters(USER_ID))
    other = await client.conversations.create_conversation(conversation_parameters("29:1other"))
    assert first.id == again.id == personal_conversation_id(USER_ID, TENANT_ID)
    assert first.id is not None and first.id.startswith("a:")
    assert other.id != first.id
    assert first.service_url == fake.service_url
    assert first.activity_id is None
    (call, *_) = fake.calls_of("create")
    assert call.conversation_id == first.id
    assert call.body["bot"] == {"id": BOT_ID}
    assert call.body["members"] == [{"id": USER_ID}]
    assert call.body["tenantId"] == TENANT_ID
    assert call.body["isGroup"] is False
    # The incoming-activity builders use the same id for the same user.
    assert personal_message("hi")["conversation"]["id"] == first.id
    await client.conversations.send_to_conversation(first.id, message("Reminder"))
    assert [text_of(a) for a in fake.sent(first.id)] == ["Reminder"]


async def test_create_conversation_with_an_initial_activity(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """An activity in ConversationParameters is posted and its id returned as activityId."""
    created = await client.conversations.create_conversation(
        conversation_parameters(USER_ID, activity=message("Welcome"))
    )
    assert created.id is not None and created.activity_id is not None
    assert text_of(fake.current(created.id, created.activity_id)) == "Welcome"


async def test_get_conversation_member(fake: FakeBotConnector, client: ConnectorClient) -> None:
    """GET .../members/{id} answers a TeamsChannelAccount from the directory, else 404."""
    fake.add_member(USER_ID, "Sam Sample", USER_AAD_ID, email="sam.sample@example.org")
    member = await client.conversations.get_conversation_member(PERSONAL_CONVERSATION, USER_ID)
    assert (member.id, member.name, member.aad_object_id) == (USER_ID, "Sam Sample", USER_AAD_ID)
    assert member.properties["email"] == "sam.sample@example.org"
    assert member.properties["userPrincipalName"] == "sam.sample@example.org"
    (call,) = fake.calls_of("member")
    assert (call.member_id, call.conversation_id) == (USER_ID, PERSONAL_CONVERSATION)
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await client.conversations.get_conversation_member(PERSONAL_CONVERSATION, "29:1nobody")
    assert info.value.status == 404


async def test_teams_client_member_lookup_by_aad_id(fake: FakeBotConnector) -> None:
    """TeamsConnectorClient (what the adapter builds) reads the member as TeamsChannelAccount."""
    fake.add_member(USER_ID, "Sam Sample", USER_AAD_ID, email="sam@example.org", given_name="Sam")
    fake.add_member("29:1elsewhere", "Kit Example", "aad-kit", conversations=["a:other"])
    client = TeamsConnectorClient(endpoint=fake.service_url, token=TOKEN)
    try:
        member = await client.get_conversation_member(CHANNEL_CONVERSATION, USER_AAD_ID)
        assert (member.id, member.email, member.given_name) == (USER_ID, "sam@example.org", "Sam")
        with pytest.raises(aiohttp.ClientResponseError) as info:
            await client.get_conversation_member(CHANNEL_CONVERSATION, "29:1elsewhere")
        assert info.value.status == 404
        members = await client.conversations.get_conversation_members("a:other")
        assert {m.id for m in members} == {USER_ID, "29:1elsewhere"}
    finally:
        await client.close()


async def test_429_surfaces_with_retry_after(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """A throttled send raises ClientResponseError 429 with a readable Retry-After header."""
    fake.fail_next(429, retry_after="3")
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("a"))
    assert info.value.status == 429
    assert info.value.headers is not None
    assert info.value.headers["Retry-After"] == "3"
    assert fake.refused_count == 1
    assert fake.refused()[0].status == 429
    assert fake.sent() == []
    await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("b"))
    assert [text_of(a) for a in fake.sent()] == ["b"]


async def test_fail_next_counts_and_filters_by_conversation(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """fail_next(times=2, conversation_id=...) refuses only that conversation's next two calls."""
    fake.fail_next(500, times=2, conversation_id=CHANNEL_CONVERSATION)
    await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("ok"))
    for status_expected in (500, 500):
        with pytest.raises(aiohttp.ClientResponseError) as info:
            await client.conversations.reply_to_activity(CHANNEL_CONVERSATION, "1", message("x"))
        assert info.value.status == status_expected
    await client.conversations.send_to_conversation(CHANNEL_CONVERSATION, message("through"))
    assert fake.refused_count == 2
    assert [text_of(a) for a in fake.sent()] == ["ok", "through"]


async def test_fail_next_403_on_update(fake: FakeBotConnector, client: ConnectorClient) -> None:
    """A refused update leaves the current version alone."""
    posted = await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("a"))
    assert posted.id is not None
    fake.fail_next(403)
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await client.conversations.update_activity(PERSONAL_CONVERSATION, posted.id, message("b"))
    assert info.value.status == 403
    assert text_of(fake.current(PERSONAL_CONVERSATION, posted.id)) == "a"


async def test_hang_until_released(fake: FakeBotConnector, client: ConnectorClient) -> None:
    """A held call waits for release() and is then delivered."""
    fake.hang_next()
    sending = asyncio.create_task(
        client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("slow"))
    )
    await fake.wait_for(lambda: fake.hanging == 1)
    assert not sending.done()
    assert fake.sent() == []
    assert fake.calls[0].status is None and fake.calls[0].hung
    fake.release()
    response = await asyncio.wait_for(sending, 5)
    assert [a["id"] for a in fake.sent()] == [response.id]
    assert fake.hanging == 0


async def test_hang_then_drop_answers_504(fake: FakeBotConnector, client: ConnectorClient) -> None:
    """hang_next(deliver=False): after release the call is answered 504 and nothing is stored."""
    fake.hang_next(deliver=False)
    sending = asyncio.create_task(
        client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("lost"))
    )
    await fake.wait_for(lambda: fake.hanging)
    fake.release()
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await sending
    assert info.value.status == 504
    assert fake.sent() == [] and fake.refused_count == 1


async def test_hang_times_out_on_its_own(fake: FakeBotConnector, client: ConnectorClient) -> None:
    """hang_next(seconds=...) lets the call through by itself."""
    fake.hang_next(seconds=0.05)
    await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("late"))
    assert [text_of(a) for a in fake.sent()] == ["late"]


async def test_client_timeout_on_a_hanging_connector(fake: FakeBotConnector) -> None:
    """With a session timeout, a hanging connector makes the SDK raise TimeoutError."""
    session = aiohttp.ClientSession(
        base_url=fake.service_url, timeout=aiohttp.ClientTimeout(total=0.2)
    )
    client = ConnectorClient(endpoint=fake.service_url, token=TOKEN, session=session)
    fake.hang_next()
    try:
        with pytest.raises(TimeoutError):
            await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("x"))
    finally:
        await client.close()
    fake.release()
    # The held call is still processed once released (the client had given up).
    await fake.wait_for(lambda: fake.sent())


async def test_wait_for_returns_the_value_and_times_out(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """wait_for returns the predicate's truthy value, or raises TimeoutError."""
    waiting = asyncio.create_task(fake.wait_for(lambda: fake.sent(PERSONAL_CONVERSATION)))
    await client.conversations.send_to_conversation(PERSONAL_CONVERSATION, message("hey"))
    (activity,) = await waiting
    assert text_of(activity) == "hey"
    with pytest.raises(TimeoutError, match="condition not met"):
        await fake.wait_for(lambda: len(fake.sent()) > 1, timeout=0.05)


async def test_unknown_route_is_recorded_404(
    fake: FakeBotConnector, client: ConnectorClient
) -> None:
    """Calls the fake does not implement are answered 404 and recorded as "unknown"."""
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await client.conversations.get_conversations()
    assert info.value.status == 404
    assert fake.calls[0].kind == "unknown"


def test_builders_validate_as_activities() -> None:
    """Every builder's output is a valid SDK Activity with the Teams fields filled in."""
    card_message = personal_message("hi", attachments=[adaptive_card_attachment(CARD)])
    built = [
        personal_message("hello", value={"k": 1}),
        card_message,
        channel_message("hello"),
        channel_message("in thread", root_message_id="1600000000001", mention_bot=False),
        installation_update(),
        installation_update("remove", "personal"),
        conversation_update_bot_added(),
        conversation_update_bot_added("personal"),
        card_action("rate", {"n": 1}, reply_to_id="1700000000001"),
        card_action(
            "rate",
            {"n": 2},
            "1700000000002",
            channel_conversation_id(),
            conversation_type="channel",
        ),
    ]
    ids = [activity["id"] for activity in built]
    assert len(set(ids)) == len(ids)
    for raw in built:
        activity = Activity.model_validate(raw)
        assert activity.channel_id == "msteams"
        assert activity.from_property is not None and activity.from_property.aad_object_id
        assert activity.recipient is not None and activity.recipient.id == BOT_ID
        assert activity.conversation is not None
        assert activity.conversation.tenant_id == TENANT_ID
        assert activity.timestamp is not None and activity.timestamp.tzinfo is not None
    assert card_of(card_message) == CARD
    assert card_of(personal_message("x")) is None


def test_personal_and_channel_shapes() -> None:
    """Conversation types, channelData and the bot mention match what Teams sends."""
    personal = Activity.model_validate(personal_message("hi", activity_id="1600000000099"))
    assert personal.id == "1600000000099"
    assert personal.conversation is not None
    assert personal.conversation.conversation_type == "personal"
    assert personal.channel_data == {"tenant": {"id": TENANT_ID}}

    raw = channel_message("how do I pace?")
    channel = Activity.model_validate(raw)
    assert channel.conversation is not None
    assert channel.conversation.is_group is True
    assert channel.conversation.id.endswith(f";messageid={raw['id']}")
    assert raw["channelData"]["teamsChannelId"] == raw["channelData"]["channel"]["id"]
    assert raw["channelData"]["teamsTeamId"] == raw["channelData"]["team"]["id"]
    assert [m.mentioned.id for m in channel.get_mentions()] == [BOT_ID]
    assert channel.remove_recipient_mention() == "how do I pace?"


def test_card_action_shape() -> None:
    """An Action.Execute invoke names adaptiveCard/action and points at the card's activity."""
    raw = card_action("rate", {"score": 4}, reply_to_id="1700000000005")
    activity = Activity.model_validate(raw)
    assert (activity.type, activity.name) == ("invoke", "adaptiveCard/action")
    assert activity.reply_to_id == "1700000000005"
    assert activity.value == {
        "action": {"type": "Action.Execute", "verb": "rate", "data": {"score": 4}},
        "trigger": "manual",
    }
    added = Activity.model_validate(conversation_update_bot_added())
    assert added.members_added is not None and added.members_added[0].id == BOT_ID
    install = Activity.model_validate(installation_update("add", "personal"))
    assert (install.type, install.action) == ("installationUpdate", "add")
