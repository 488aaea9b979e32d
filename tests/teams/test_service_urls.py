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
