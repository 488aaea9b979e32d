"""Only Microsoft's Bot Connector hosts (or, in anonymous mode, loopback) are ever called."""

from __future__ import annotations

import pytest

from bot.app.channels.teams_conversations import ServiceUrls, channel_of
from bot.config import TEAMS_SERVICE_HOSTS

PRODUCTION = ServiceUrls(TEAMS_SERVICE_HOSTS)
ANONYMOUS = ServiceUrls(TEAMS_SERVICE_HOSTS, anonymous=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://smba.trafficmanager.net/uk/",
        "https://smba.trafficmanager.net/emea/",
        "https://europe.webchat.botframework.com/",
    ],
)
def test_bot_connector_hosts_are_allowed(url: str) -> None:
    assert PRODUCTION.allowed(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/",
        "http://smba.trafficmanager.net/uk/",  # not https
        "https://smba.trafficmanager.net.attacker.example/",
        "https://attacker.example/smba.trafficmanager.net/",
        "https://user:pw@smba.trafficmanager.net/",
        "https://127.0.0.1/",
        "https://169.254.169.254/latest/",
        "https://smba.trafficmanager.net/uk/?next=https://attacker.example",
        "https://smba.trafficmanager.net:notaport/",
        "not a url",
        "",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    assert not PRODUCTION.allowed(url)


def test_anonymous_mode_calls_only_this_machine() -> None:
    assert ANONYMOUS.allowed("http://127.0.0.1:3978/")
    assert ANONYMOUS.allowed("http://localhost:3978/")
    assert not ANONYMOUS.allowed("https://smba.trafficmanager.net/uk/")
    assert not ANONYMOUS.allowed("http://10.0.0.5/")


def test_a_thread_in_a_channel_is_the_channel() -> None:
    assert channel_of("19:abc@thread.tacv2;messageid=1700000000000") == "19:abc@thread.tacv2"
    assert channel_of("a:1personal") == "a:1personal"


def test_the_bot_proves_who_it_is_with_a_secret_or_a_certificate() -> None:
    from microsoft_agents.hosting.core.authorization import AuthTypes

    from bot.app.channels.teams_auth import auth_configuration
    from bot.config import Settings

    ids = {"teams_app_id": "00000000-1111-4222-8333-444444444444", "teams_tenant_id": "t"}
    secret = auth_configuration(Settings(_env_file=None, teams_app_password="s", **ids))
    assert AuthTypes.client_secret == secret.AUTH_TYPE and not secret.ANONYMOUS_ALLOWED
    certificate = auth_configuration(
        Settings(_env_file=None, teams_certificate_file="/etc/pmp/bot.pfx", **ids)
    )
    assert AuthTypes.certificate == certificate.AUTH_TYPE
    assert certificate.CERT_PFX_FILE == "/etc/pmp/bot.pfx"
    with pytest.raises(ValueError, match="TEAMS_TENANT_ID"):
        Settings(_env_file=None, teams_app_id="x")
    with pytest.raises(ValueError, match="local testing only"):
        Settings(_env_file=None, teams_allow_anonymous=True, teams_app_password="s", **ids)


def test_anonymous_mode_only_on_this_machine() -> None:
    from bot.config import Settings

    assert Settings(_env_file=None, teams_allow_anonymous=True).teams_enabled
    with pytest.raises(ValueError, match="WEB_LISTEN"):
        Settings(_env_file=None, teams_allow_anonymous=True, web_listen="0.0.0.0")


def test_a_huge_retry_after_is_cut_to_a_quarter_of_an_hour() -> None:
    from bot.app.channels.teams_alerts import retry_after_seconds

    assert retry_after_seconds("86400000000000000") == 900.0
    assert retry_after_seconds("12") == 12.0
