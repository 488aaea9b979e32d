"""Signing in with Microsoft Entra ID, against a stand-in identity provider on loopback."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.app.web.serve import Served, serve
from bot.clock import ManualClock
from bot.db.models import AuditEvent, StaffAccount
from bot.services import staff_accounts
from tests.web.support import Browser, add_staff, browser_for, make_console

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "pmp-console-client"


@dataclass
class FakeEntra:
    """Discovery, keys and a token endpoint; codes are handed out by the test."""

    clock: ManualClock
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    base: str = ""

    def app(self) -> Starlette:
        async def discovery(_request: Request) -> Response:
            root = f"{self.base}/{TENANT}"
            return JSONResponse(
                {
                    "issuer": f"{root}/v2.0",
                    "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{root}/oauth2/v2.0/token",
                    "jwks_uri": f"{self.base}/discovery/keys",
                }
            )

        async def keys(_request: Request) -> Response:
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        async def token(request: Request) -> Response:
            form = await request.form()
            claims, challenge = self.codes.pop(str(form.get("code")), ({}, ""))
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            if not claims or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            signed = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, claims.pop("_key", self.key))
            return JSONResponse({"access_token": "x", "token_type": "Bearer", "id_token": signed})

        return Starlette(
            routes=[
                Route(f"/{TENANT}/v2.0/.well-known/openid-configuration", discovery),
                Route("/discovery/keys", keys),
                Route(f"/{TENANT}/oauth2/v2.0/token", token, methods=["POST"]),
            ]
        )

    def claims(self, params: dict[str, str], **overrides: Any) -> dict[str, Any]:
        """An ID token's claims for the sign-in the browser started."""
        now = int(self.clock.now().timestamp())
        claims = {
            "iss": f"{self.base}/{TENANT}/v2.0",
            "aud": CLIENT,
            "iat": now,
            "exp": now + 3600,
            "nonce": params["nonce"],
            "oid": "aaaa-0001",
            "preferred_username": "robin.nurse@nhs.test",
            "name": "Robin Nurse",
            "roles": ["PMP.Clinician"],
        }
        return {**claims, **overrides}


@pytest.fixture
async def entra(clock: ManualClock) -> AsyncIterator[FakeEntra]:
    fake = FakeEntra(clock)
    served: Served = await serve(fake.app(), "127.0.0.1", 0)
    fake.base = served.address
    yield fake
    await served.stop()


@pytest.fixture
def entra_console(runtime: Runtime, entra: FakeEntra) -> Console:
    settings = runtime.settings.model_copy(
        update={
            "entra_tenant_id": TENANT,
            "entra_client_id": CLIENT,
            "entra_client_secret": "secret",
            "entra_authority": entra.base,
        }
    )
    console = make_console(runtime)
    console.settings = settings
    return console


async def through_entra(
    browser: Browser, entra: FakeEntra, state: str | None = None, **overrides: Any
) -> Any:
    """Press "Sign in with Microsoft", let Entra vouch with these claims, come back."""
    started = await browser.client.get("/login/entra?next=/escalations")
    assert started.status_code == 303
    location = started.headers["location"]
    assert location.startswith(f"{entra.base}/{TENANT}/oauth2/v2.0/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["code_challenge_method"] == "S256" and params["client_id"] == CLIENT
    code = secrets.token_urlsafe(8)
    entra.codes[code] = (entra.claims(params, **overrides), params["code_challenge"])
    return await browser.client.get(
        f"/login/entra/callback?code={code}&state={state or params['state']}"
    )


async def test_a_first_sign_in_makes_the_account_with_the_role_entra_gives(
    runtime: Runtime, entra: FakeEntra, entra_console: Console
) -> None:
    browser = browser_for(entra_console)
    login = await browser.client.get("/login")
    assert "Sign in with Microsoft" in login.text
    back = await through_entra(browser, entra)
    assert back.status_code == 303 and back.headers["location"] == "/escalations"
    page = await browser.client.get("/")
    assert page.status_code == 200 and "Robin Nurse (clinician)" in page.text
    async with runtime.sessions() as session:
        account = await session.scalar(select(StaffAccount))
        audit = list(await session.scalars(select(AuditEvent.action)))
    assert account is not None and account.entra_object_id == "aaaa-0001"
    assert account.password_hash is None and account.email == "robin.nurse@nhs.test"
    assert audit == ["account_added", "signed_in"]


async def test_an_account_made_for_microsoft_sign_in_is_linked_and_takes_entras_role(
    runtime: Runtime, entra: FakeEntra, entra_console: Console
) -> None:
    async with runtime.sessions() as session, session.begin():
        await staff_accounts.add_account(
            session, "robin.nurse@nhs.test", "Robin", "clinician", None, runtime.clock.now()
        )
    browser = browser_for(entra_console)
    await through_entra(browser, entra, roles=["PMP.Admin"])
    assert (await browser.client.get("/audit")).status_code == 200
    async with runtime.sessions() as session:
        (account,) = list(await session.scalars(select(StaffAccount)))
    assert account.role == "admin" and account.entra_object_id == "aaaa-0001"


async def test_an_email_claim_never_takes_over_an_account_with_a_password(
    runtime: Runtime, entra: FakeEntra, entra_console: Console
) -> None:
    """Entra's email claims are not proof of owning the address: Jo, the only admin, keeps
    her account and her role whoever claims her address."""
    jo = await add_staff(runtime, "jo@clinic.test", "admin", "Jo Admin")
    stranger = browser_for(entra_console)
    back = await through_entra(
        stranger, entra, oid="someone-else", preferred_username="jo@clinic.test"
    )
    assert back.status_code == 403 and "sign in with your password" in back.text
    assert (await stranger.client.get("/")).status_code == 303
    async with runtime.sessions() as session:
        account = await session.get(StaffAccount, jo.id)
    assert account is not None and account.role == "admin" and account.entra_object_id is None
    # Once an admin switches it to Microsoft sign-in, the password stops working.
    admin = browser_for(entra_console)
    await admin.sign_in("jo@clinic.test")
    await add_staff(runtime, "kim@clinic.test", "clinician", "Kim")
    async with runtime.sessions() as session:
        kim = await session.scalar(select(StaffAccount).where(StaffAccount.name == "Kim"))
    assert kim is not None
    switched = await admin.post(f"/staff/{kim.id}", {"action": "microsoft"})
    assert switched.status_code == 303
    assert (await browser_for(entra_console).sign_in("kim@clinic.test")).status_code == 400


@pytest.mark.parametrize(
    "overrides",
    [
        {"roles": []},
        {"roles": ["Some.Other.Role"]},
        {"aud": "another-app"},
        {"nonce": "not-the-one"},
        {"iss": "https://login.example/evil/v2.0"},
        {"exp": 1},
        {"_key": RSAKey.generate_key(2048, parameters={"kid": "k1"})},
    ],
    ids=["no role", "other role", "audience", "nonce", "issuer", "expired", "forged key"],
)
async def test_sign_ins_entra_does_not_vouch_for_are_refused(
    entra: FakeEntra, entra_console: Console, overrides: dict[str, Any]
) -> None:
    browser = browser_for(entra_console)
    back = await through_entra(browser, entra, **overrides)
    assert back.status_code == 403
    assert "pmp_session" not in browser.client.cookies
    assert (await browser.client.get("/")).status_code == 303


async def test_a_forged_state_or_a_disabled_account_is_refused(
    runtime: Runtime, entra: FakeEntra, entra_console: Console, clock: ManualClock
) -> None:
    browser = browser_for(entra_console)
    assert (await through_entra(browser, entra, state="forged")).status_code == 403
    disabled = await add_staff(runtime, "robin.nurse@nhs.test")
    async with runtime.sessions() as session, session.begin():
        account = await session.get(StaffAccount, disabled.id)
        assert account is not None
        account.disabled_at = clock.now()
    back = await through_entra(browser, entra)
    assert back.status_code == 403 and "cannot use Microsoft sign-in" in back.text


async def test_without_entra_settings_there_is_no_microsoft_sign_in(console: Console) -> None:
    browser = browser_for(console)
    assert "Sign in with Microsoft" not in (await browser.client.get("/login")).text
    assert (await browser.client.get("/login/entra")).status_code == 404
    assert (await browser.client.get("/login/entra/callback?code=x&state=y")).status_code == 404
