"""Sign in with Microsoft Entra ID (OpenID Connect, authorisation code with PKCE; the request
built by authlib, the ID token checked by joserfc, its companion).

The token's `roles` claim decides the console role on every sign-in (PMP.Admin or
PMP.Clinician, assigned by IT in Entra); one account per person, found by their Entra object id
or, the first time, by email address.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import datetime
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.app.web.console import Console
from bot.app.web.security import problem, redirect, safe_next, signed_in
from bot.db.models import StaffAccount
from bot.services import staff_accounts, staff_sessions

log = logging.getLogger(__name__)

FLOW_COOKIE = "pmp_entra"
CALLBACK = "/login/entra/callback"
ROLES = {"PMP.Admin": "admin", "PMP.Clinician": "clinician"}
TIMEOUT_SECONDS = 10


class SignInFailed(Exception):
    """Entra ID did not vouch for this person; the reason goes to the log, not the page."""


def _issuer(console: Console) -> str:
    settings = console.settings
    return f"{settings.entra_authority.rstrip('/')}/{settings.entra_tenant_id}/v2.0"


def _callback_url(console: Console, request: Request) -> str:
    base = console.settings.web_public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return base + CALLBACK


def _client() -> httpx.AsyncClient:
    """Calls to Entra ID; the environment's proxy settings apply (hospital networks)."""
    return httpx.AsyncClient(timeout=TIMEOUT_SECONDS)


async def _metadata(client: httpx.AsyncClient, console: Console) -> dict[str, Any]:
    """The tenant's OpenID configuration."""
    found = await client.get(f"{_issuer(console)}/.well-known/openid-configuration")
    found.raise_for_status()
    data: dict[str, Any] = found.json()
    return data


async def start(request: Request) -> Response:
    """Send the browser to Entra ID, remembering (in a short-lived cookie) what to check."""
    console: Console = request.app.state.console
    if not console.settings.entra_configured:
        return problem(console, request, 404, "not_found")
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    state = secrets.token_urlsafe(24)
    async with _client() as client:
        try:
            metadata = await _metadata(client, console)
        except (httpx.HTTPError, ValueError) as error:
            log.error("Entra ID cannot be reached", extra={"error": type(error).__name__})
            return problem(console, request, 503, "entra_down")
    url = prepare_grant_uri(
        metadata["authorization_endpoint"],
        client_id=console.settings.entra_client_id,
        response_type="code",
        redirect_uri=_callback_url(console, request),
        scope="openid profile email",
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    flow = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": safe_next(request.query_params.get("next")),
    }
    # Entra's own address: the one redirect that leaves this site, and not one a request chose.
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
        max_age=600,
        httponly=True,
        samesite="lax",  # it must come back with Entra's top-level redirect
        secure=console.settings.secure_cookies(request.url.scheme),
        path=CALLBACK,
    )
    return response


async def _claims(console: Console, request: Request, flow: dict[str, str]) -> dict[str, Any]:
    """The ID token's claims, checked: signature, issuer, audience, expiry, nonce."""
    settings = console.settings
    async with _client() as client:
        metadata = await _metadata(client, console)
        answer = await client.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": request.query_params.get("code", ""),
                "redirect_uri": _callback_url(console, request),
                "client_id": settings.entra_client_id,
                "client_secret": settings.entra_client_secret,
                "code_verifier": flow["verifier"],
            },
        )
        answer.raise_for_status()
        keys = await client.get(metadata["jwks_uri"])
        keys.raise_for_status()
    id_token = answer.json().get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed("no id_token")
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(keys.json()), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            now=int(console.clock.now().timestamp()),
            leeway=120,
            iss={"essential": True, "value": _issuer(console)},
            aud={"essential": True, "value": console.settings.entra_client_id},
            nonce={"essential": True, "value": flow["nonce"]},
            exp={"essential": True},
            oid={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as error:
        raise SignInFailed(type(error).__name__) from error
    return dict(decoded.claims)


async def callback(request: Request) -> Response:
    """Entra ID sends the browser back here: check everything, then start a session."""
    console: Console = request.app.state.console
    if not console.settings.entra_configured:
        return problem(console, request, 404, "not_found")
    try:
        flow = json.loads(base64.urlsafe_b64decode(request.cookies.get(FLOW_COOKIE) or "e30="))
    except ValueError:
        flow = {}
    given = request.query_params.get("state", "")
    if not isinstance(flow, dict) or not flow.get("state") or given != flow["state"]:
        return problem(console, request, 403, "csrf")
    if "error" in request.query_params or "code" not in request.query_params:
        return problem(console, request, 403, "entra_refused")
    try:
        claims = await _claims(console, request, flow)
    except Exception as error:  # Entra down, a bad token: the page says try again
        log.warning("an Entra ID sign-in failed", extra={"error": type(error).__name__})
        return problem(console, request, 403, "entra_refused")
    roles = [ROLES[role] for role in claims.get("roles", []) if role in ROLES]
    if not roles:
        return problem(console, request, 403, "entra_no_role")
    role = "admin" if "admin" in roles else "clinician"
    email = str(claims.get("email") or claims.get("preferred_username") or "")
    name = str(claims.get("name") or email)[:80]
    address = request.client.host if request.client else "unknown"
    async with console.sessions() as db, db.begin():
        now = console.clock.now()
        account = await _account_for(db, str(claims["oid"]), email, name, role, now)
        if account is None:
            return problem(console, request, 403, "entra_not_linked")
        staff_accounts.audit(db, account, "signed_in", now, detail=f"Entra ID, from {address}")
        key = await staff_sessions.start(db, account, now)
    response = signed_in(redirect(str(flow.get("next") or "/")), request, console, key)
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK)
    return response


async def _account_for(
    db: AsyncSession, object_id: str, email: str, name: str, role: str, now: datetime
) -> StaffAccount | None:
    """This person's account, with the role Entra gives; None if it may not sign in.

    Found by Entra object id. The first time, an account an admin made for Microsoft sign-in
    (no password, not linked yet) is linked by email; an account with a password never is,
    since an email claim is not proof of owning that address. Otherwise a new account is made.
    """
    account: StaffAccount | None = await db.scalar(
        select(StaffAccount).where(StaffAccount.entra_object_id == object_id)
    )
    clean = staff_accounts.clean_email(email)
    if account is None and clean is not None:
        same_email = await db.scalar(select(StaffAccount).where(StaffAccount.email == clean))
        if same_email is not None:
            if same_email.password_hash is not None or same_email.entra_object_id is not None:
                log.warning(
                    "an Entra ID sign-in matched an account it may not take over",
                    extra={"account": same_email.id},
                )
                return None
            account = same_email
            account.entra_object_id = object_id
            staff_accounts.audit(
                db, account, "entra_linked", now, f"account:{account.id}", "first Entra ID sign-in"
            )
    if account is None:
        account = StaffAccount(
            email=clean or f"{object_id}@entra.invalid",
            name=name or "Member of staff",
            role=role,
            password_hash=None,
            entra_object_id=object_id,
            created_at=now,
        )
        db.add(account)
        await db.flush()
        staff_accounts.audit(
            db,
            account,
            "account_added",
            now,
            f"account:{account.id}",
            f"role {role}, first Entra ID sign-in",
        )
        return account
    if account.disabled_at is not None:
        return None
    if account.role != role:
        # Entra decides the role; sessions opened with the old one end now.
        staff_accounts.audit(
            db, account, "role_changed", now, f"account:{account.id}", f"now {role}, from Entra ID"
        )
        account.role = role
        await staff_sessions.end_all(db, account.id)
    return account


routes = [
    Route("/login/entra", start, methods=["GET"]),
    Route(CALLBACK, callback, methods=["GET"]),
]
