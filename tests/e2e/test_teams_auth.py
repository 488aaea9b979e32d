"""Outside anonymous mode, /api/messages takes only tokens the SDK's JWT check accepts:
signed by a Bot Framework key, for this bot, not expired."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from microsoft_agents.hosting.core.authorization import JwtTokenValidator

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.fake_user import FakeGroup
from tests.fakes.teams_activities import BOT_APP_ID, TENANT_ID, personal_message
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.teams.support import Teams, connector, start

__all__ = ["connector"]

BOT_FRAMEWORK = "https://api.botframework.com"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def teams(
    runtime: Runtime,
    api: FakeTelegramAPI,
    connector: FakeBotConnector,
    staff_group: FakeGroup,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Teams]:
    async def our_key(_uri: str, _header: dict[str, Any]) -> jwt.PyJWK:
        # The Bot Framework's published keys, as the SDK would fetch them: here, ours.
        return jwt.PyJWK.from_dict(
            {
                **jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key(), as_dict=True),
                "alg": "RS256",
            }
        )

    monkeypatch.setattr(JwtTokenValidator._jwk_client_manager, "get_signing_key", our_key)
    service: TelegramService = await start(
        runtime,
        api,
        connector,
        teams_allow_anonymous=False,
        teams_app_id=BOT_APP_ID,
        teams_app_password="invented-secret",
        teams_tenant_id=TENANT_ID,
    )
    teams = Teams(service, connector)
    yield teams
    await teams.aclose()
    await service.stop()


def token(key: Any = SIGNING_KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": BOT_FRAMEWORK, "aud": BOT_APP_ID, "iat": now, "nbf": now, "exp": now + 600}
    return jwt.encode({**body, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


def message() -> dict[str, Any]:
    # A service URL on this machine: never allowed outside anonymous mode (403), so a 403
    # here means the token itself was accepted.
    return personal_message("hello", service_url="http://127.0.0.1:9/")


async def test_a_token_signed_for_this_bot_is_accepted(teams: Teams) -> None:
    response = await teams.post(message(), Authorization=f"Bearer {token()}")
    assert response.status_code == 403  # past the JWT check; the service URL is refused


@pytest.mark.parametrize(
    "bad",
    [
        {"aud": "someone-else"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"key": OTHER_KEY},
    ],
    ids=["other-audience", "expired", "wrong-key"],
)
async def test_other_tokens_get_401(teams: Teams, bad: dict[str, Any]) -> None:
    claims = dict(bad)  # the parameter is shared by both databases' runs: never changed
    key = claims.pop("key", SIGNING_KEY)
    response = await teams.post(message(), Authorization=f"Bearer {token(key, **claims)}")
    assert response.status_code == 401
    assert teams.connector.calls == []


async def test_a_token_from_the_hospitals_own_tenant_is_not_the_bot_framework(
    teams: Teams,
) -> None:
    # Anyone who may register an app in the tenant can get such a token for this app id.
    forged = token(iss=f"https://sts.windows.net/{TENANT_ID}/", tid=TENANT_ID)
    response = await teams.post(message(), Authorization=f"Bearer {forged}")
    assert response.status_code == 401


TEAMS_HOST = "https://smba.trafficmanager.net/uk/"


async def test_an_activity_naming_another_host_than_its_token_is_refused(teams: Teams) -> None:
    activity = personal_message("hello", service_url=TEAMS_HOST)
    signed = token(serviceurl="https://europe.webchat.botframework.com/")
    response = await teams.post(activity, Authorization=f"Bearer {signed}")
    assert response.status_code == 403
    assert teams.connector.calls == []


@pytest.mark.parametrize("field", ["tenant", "channel"])
async def test_an_activity_from_another_tenant_or_channel_is_refused(
    teams: Teams, field: str
) -> None:
    if field == "tenant":
        activity = personal_message(
            "hello", service_url=TEAMS_HOST, tenant_id="bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
        )
    else:
        activity = personal_message("hello", service_url=TEAMS_HOST)
        activity["channelId"] = "webchat"
    response = await teams.post(activity, Authorization=f"Bearer {token(serviceurl=TEAMS_HOST)}")
    assert response.status_code == 403
    assert teams.connector.calls == []
