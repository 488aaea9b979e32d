"""Who may call the Teams bot, and how the bot proves who it is (Microsoft 365 Agents SDK)."""

from __future__ import annotations

from typing import Any, Protocol

from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import AuthTypes

from bot.config import Settings

# The Bot Connector's resource, for the bot's own access token.
BOT_RESOURCE = "https://api.botframework.com"
BOT_SCOPE = "https://api.botframework.com/.default"
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"


class TokenSource(Protocol):
    """Gives the bot's access token for the Bot Connector ("" where none is needed)."""

    async def token(self) -> str:
        """The current token (cached by whoever issues it)."""
        ...


class NoToken:
    """Anonymous mode (local testing): calls carry no token."""

    async def token(self) -> str:
        """No token."""
        return ""


class MsalToken:
    """The bot's token from Entra ID through the SDK's MSAL provider (cached by MSAL)."""

    def __init__(self, settings: Settings) -> None:
        from microsoft_agents.authentication.msal import MsalAuth

        self._auth = MsalAuth(auth_configuration(settings))

    async def token(self) -> str:
        """A token for the Bot Connector, refreshed by MSAL when it nears its end."""
        return await self._auth.get_access_token(BOT_RESOURCE, [BOT_SCOPE])


# Only the Bot Framework (and Microsoft's own first-party tenants, which the SDK always adds)
# may call us: left to its default, the SDK would also take any token the hospital's own
# tenant issues for this app id, which anyone allowed to register an app there can get.
_ONLY_THE_BOT_FRAMEWORK: dict[str, Any] = {
    "validate_issuer": True,
    "issuers": [BOT_FRAMEWORK_ISSUER],
}


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The SDK's configuration: who may call /api/messages, and who the bot is."""
    if settings.teams_allow_anonymous:
        return AgentAuthConfiguration(anonymous_allowed=True)
    credential: dict[str, Any] = (
        {"auth_type": AuthTypes.client_secret, "client_secret": settings.teams_app_password}
        if settings.teams_app_password
        else {"auth_type": AuthTypes.certificate, "cert_pfx_file": settings.teams_certificate_file}
    )
    return AgentAuthConfiguration(
        client_id=settings.teams_app_id,
        tenant_id=settings.teams_tenant_id,
        anonymous_allowed=False,
        **credential,
        **_ONLY_THE_BOT_FRAMEWORK,
    )
