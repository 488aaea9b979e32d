"""The bot as `pmp run` starts it, with Teams on: the fake Bot API for Telegram, the fake Bot
Connector for Teams, and real Activity JSON posted to /api/messages."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.db.models import StaffAccount
from tests.fakes.bot_connector import FakeBotConnector, card_of, text_of
from tests.fakes.teams_activities import (
    CHANNEL_ID,
    card_action,
    installation_update,
    personal_message,
)
from tests.fakes.telegram_api import FakeTelegramAPI

STAFF_AAD = "22222222-3333-4444-8555-666666666666"
STAFF_USER = "29:1FakeNurseTeamsId-0123456789abcdef"
STRANGER_AAD = "33333333-4444-4555-8666-777777777777"
STRANGER_USER = "29:1FakeStrangerTeamsId-0123456789ab"


async def start(
    runtime: Runtime, api: FakeTelegramAPI, connector: FakeBotConnector, **settings: Any
) -> TelegramService:
    """The bot with Teams in anonymous mode (loopback only), polling the fake Bot API."""
    changed = runtime.settings.model_copy(
        update={
            "telegram_api_base_url": api.base_url,
            "teams_allow_anonymous": True,
            "teams_staff_conversation_id": CHANNEL_ID,
            **settings,
        }
    )
    service = TelegramService(
        dataclasses.replace(runtime, settings=changed),
        request=api.httpx_request(),
        get_updates_request=api.httpx_request(),
        urgent_request=api.httpx_request(),
        poll_seconds=1,
    )
    service.retry_base_seconds = 0.05
    await service.start()
    await api.wait_until_polling()
    return service


async def add_teams_staff(
    runtime: Runtime, name: str = "Nurse Kim", object_id: str = STAFF_AAD, email: str | None = None
) -> int:
    """A console account linked to a Microsoft identity: staff in Teams too."""
    async with runtime.sessions() as session, session.begin():
        account = StaffAccount(
            email=email or f"{name.split()[-1].lower()}@pmp.example",
            name=name,
            role="clinician",
            password_hash=None,
            entra_object_id=object_id,
            created_at=datetime.now(UTC),
        )
        session.add(account)
        await session.flush()
        return account.id


@dataclass
class Teams:
    """Posts activities to the bot's /api/messages as Teams would."""

    service: TelegramService
    connector: FakeBotConnector
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(base_url=self.service.web_address, timeout=20)

    async def post(self, activity: dict[str, Any], **headers: str) -> httpx.Response:
        """One activity; the bot answers once its turn has committed."""
        return await self.client.post("/api/messages", json=activity, headers=headers)

    async def install_in_staff_channel(self) -> None:
        """The app added to the staff team: the bot learns the channel's service URL."""
        response = await self.post(
            installation_update("add", "channel", service_url=self.connector.service_url)
        )
        assert response.status_code == 200

    def person(self, user_id: str, object_id: str, name: str) -> TeamsPerson:
        """Someone in a personal chat with the bot."""
        return TeamsPerson(self, user_id, object_id, name)

    def staff_cards(self) -> list[dict[str, Any]]:
        """Cards posted to the staff channel (new activities, as first posted)."""
        return [a for a in self.connector.sent(CHANNEL_ID) if card_of(a) is not None]

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class TeamsPerson:
    """A Teams user in a personal chat with the bot."""

    teams: Teams
    user_id: str
    object_id: str
    name: str

    @property
    def conversation_id(self) -> str:
        from tests.fakes.bot_connector import personal_conversation_id
        from tests.fakes.teams_activities import TENANT_ID

        return personal_conversation_id(self.user_id, TENANT_ID)

    async def say(self, text: str, **extra: Any) -> httpx.Response:
        """Type a message."""
        activity = personal_message(
            text,
            user_id=self.user_id,
            aad_object_id=self.object_id,
            name=self.name,
            service_url=self.teams.connector.service_url,
            **extra,
        )
        response = await self.teams.post(activity)
        assert response.status_code == 200, response.text
        return response

    def received(self) -> list[dict[str, Any]]:
        """Everything the bot sent to this chat, oldest first."""
        return self.teams.connector.sent(self.conversation_id)

    def texts(self) -> list[str]:
        """The words of each message or card sent here."""
        return [text_of(a) or _card_text(a) for a in self.received()]

    async def press(self, label: str) -> httpx.Response:
        """Press the newest button with this label on a card sent to this chat."""
        for sent in reversed(self.received()):
            found = _button(sent, label)
            if found is not None:
                activity = card_action(
                    "press",
                    found,
                    reply_to_id=sent["id"],
                    conversation_id=self.conversation_id,
                    conversation_type="personal",
                    user_id=self.user_id,
                    aad_object_id=self.object_id,
                    name=self.name,
                    service_url=self.teams.connector.service_url,
                )
                response = await self.teams.post(activity)
                assert response.status_code == 200, response.text
                return response
        raise AssertionError(f"no button {label!r} in {self.texts()}")


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a for el in card.get("body", []) if el.get("type") == "ActionSet" for a in el["actions"]
    ]


def _button(activity: dict[str, Any], label: str) -> dict[str, Any] | None:
    card = card_of(activity)
    if card is None:
        return None
    for action in _actions(card):
        if action["title"] == label:
            return dict(action["data"])
    return None


def _card_text(activity: dict[str, Any]) -> str:
    card = card_of(activity) or {}
    parts = []
    for element in card.get("body", []):
        if element.get("type") == "TextBlock":
            parts.append(element["text"])
        elif element.get("type") == "FactSet":
            parts += [f"{f['title']}: {f['value']}" for f in element["facts"]]
    return "\n".join(parts)


def card_text(activity: dict[str, Any]) -> str:
    """What a card says, line by line (Markdown escapes left in)."""
    return _card_text(activity)


def buttons(activity: dict[str, Any]) -> list[str]:
    """The labels of a card's buttons."""
    card = card_of(activity)
    return [a["title"] for a in _actions(card)] if card else []


def press_on(
    teams: Teams,
    card_activity: dict[str, Any],
    label: str,
    user_id: str,
    object_id: str,
    note: str | None = None,
    name: str = "Someone",
) -> dict[str, Any]:
    """The invoke Teams sends when someone presses a button on a card in the staff channel."""
    data = _button(card_activity, label)
    assert data is not None, f"no {label!r} on the card"
    if note is not None:
        data["note"] = note
    return card_action(
        "press",
        data,
        reply_to_id=card_activity["id"],
        conversation_id=f"{CHANNEL_ID};messageid={card_activity['id']}",
        conversation_type="channel",
        user_id=user_id,
        aad_object_id=object_id,
        name=name,
        service_url=teams.connector.service_url,
    )


@pytest.fixture
async def connector() -> AsyncIterator[FakeBotConnector]:
    async with FakeBotConnector() as fake:
        yield fake
