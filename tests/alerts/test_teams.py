"""TeamsSender against a real HTTP server on 127.0.0.1: the card it posts and its errors."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.channels import teams_alerts as teams
from bot.app.channels.teams_alerts import ACKNOWLEDGE_HINT, MAX_PAYLOAD_BYTES, TeamsSender
from bot.messages import Button, DeliveryError, PermanentDeliveryError, Reply

SECRET = "SECRETSIG123"
WEBHOOK_PATH = "/workflows/abc123/triggers/manual/paths/invoke"
QUERY = f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SECRET}"

# Invented, not real patient data.
ALERT = """URGENT: red flag reported
Reference: P-0042
First name: Alex
Category: More pain than usual
Severity: 9 out of 10
Red flag: yes
Contact wanted: yes
Time: Thu 26 Nov 10:42"""


@dataclass
class Workflow:
    """A stand-in Workflows endpoint; `mode` says how it answers the next posts."""

    url: str = ""
    mode: str = "accept"
    retry_after: str | None = None
    bodies: list[bytes] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def posted(self) -> dict[str, Any]:
        """The last JSON posted."""
        data: dict[str, Any] = json.loads(self.bodies[-1])
        return data

    @property
    def card(self) -> dict[str, Any]:
        """The Adaptive Card of the last post."""
        card: dict[str, Any] = self.posted["attachments"][0]["content"]
        return card

    async def receive(self, request: Request) -> Response:
        self.bodies.append(await request.body())
        self.queries.append(request.url.query)
        if self.mode == "hang":
            await self.release.wait()
        statuses = {"accept": 202, "throttle": 429, "fail": 500, "timeout": 408, "bad": 400}
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        return Response(status_code=statuses.get(self.mode, 202), headers=headers)


@pytest.fixture
async def workflow() -> AsyncIterator[Workflow]:
    """Uvicorn on an ephemeral loopback port, in this event loop."""
    endpoint = Workflow()
    app = Starlette(routes=[Route(WEBHOOK_PATH, endpoint.receive, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    # No access log: it would print the signed query string into caplog.
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", loop="asyncio", access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    endpoint.url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}{QUERY}"
    try:
        yield endpoint
    finally:
        endpoint.release.set()
        server.should_exit = server.force_exit = True
        await serving
        sock.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """No proxies from the environment for loopback traffic."""
    async with httpx.AsyncClient(trust_env=False) as shared:
        yield shared


def _assert_no_secret(caplog: pytest.LogCaptureFixture, url: str, *texts: str) -> None:
    for text in (caplog.text, *texts):
        assert SECRET not in text
        assert url not in text


async def test_posts_an_adaptive_card_with_title_facts_and_hint(
    workflow: Workflow, client: httpx.AsyncClient
) -> None:
    sender = TeamsSender(workflow.url, client=client)
    buttons = ((Button("Acknowledge", "ack:42"),),)
    assert await sender.send("ignored", Reply(ALERT, buttons)) is None
    assert workflow.queries == [QUERY[1:]]

    posted = workflow.posted
    assert posted["type"] == "message"
    assert len(posted["attachments"]) == 1
    attachment = posted["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = workflow.card
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert "actions" not in card  # buttons cannot work from a Workflows card

    title, facts, hint = card["body"]
    assert title == {
        "type": "TextBlock",
        "text": "URGENT: red flag reported",
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
        "color": "Attention",
    }
    assert facts["type"] == "FactSet"
    assert [(f["title"], f["value"]) for f in facts["facts"]] == [
        ("Reference", "P-0042"),
        ("First name", "Alex"),
        ("Category", "More pain than usual"),
        ("Severity", "9 out of 10"),
        ("Red flag", "yes"),
        ("Contact wanted", "yes"),
        ("Time", "Thu 26 Nov 10:42"),
    ]
    assert hint["type"] == "TextBlock"
    assert hint["text"] == ACKNOWLEDGE_HINT
    assert hint["size"] == "Small"
    assert ACKNOWLEDGE_HINT.startswith("Acknowledge and resolve in the staff Telegram group")


async def test_free_lines_split_fact_sets_and_plain_titles_keep_the_default_colour(
    workflow: Workflow, client: httpx.AsyncClient
) -> None:
    text = "Check-in summary\nReference: P-0042\nSeverity: 4\n\nFeeling steadier today\nTime: 09:00"
    await TeamsSender(workflow.url, client=client).send("", Reply(text))
    body = workflow.card["body"]
    assert "color" not in body[0]
    assert [block["type"] for block in body] == [
        "TextBlock",
        "FactSet",
        "TextBlock",
        "FactSet",
        "TextBlock",
    ]
    assert len(body[1]["facts"]) == 2
    assert body[2] == {"type": "TextBlock", "text": "Feeling steadier today", "wrap": True}
    assert body[3]["facts"] == [{"title": "Time", "value": "09:00"}]


@pytest.mark.parametrize("title", ["UNACKNOWLEDGED for 2 hours", "RISK: PHQ-9 item 9"])
async def test_other_attention_titles(
    workflow: Workflow, client: httpx.AsyncClient, title: str
) -> None:
    await TeamsSender(workflow.url, client=client).send("", Reply(f"{title}\nReference: P-1"))
    assert workflow.card["body"][0]["color"] == "Attention"


async def test_markdown_in_free_text_and_facts_is_escaped(
    workflow: Workflow, client: httpx.AsyncClient
) -> None:
    text = (
        "Alert [x](https://evil.example)\n"
        "see **this** [click](https://evil.example) _now_\n"
        "Note: [a](b)"
    )
    await TeamsSender(workflow.url, client=client).send("", Reply(text))
    title, line, facts, _hint = workflow.card["body"]
    assert title["text"] == "Alert \\[x\\]\\(https://evil.example\\)"
    assert line["text"] == "see \\*\\*this\\*\\* \\[click\\]\\(https://evil.example\\) \\_now\\_"
    # Teams renders Markdown in fact titles and values too, so they are escaped as well.
    assert facts["facts"] == [{"title": "Note", "value": "\\[a\\]\\(b\\)"}]


@pytest.mark.parametrize(
    "text",
    [
        "URGENT: long\n" + "x" * 30_000,
        "URGENT: long\nComment: " + "é*" * 15_000,
        "URGENT: many lines\n" + "\n".join(f"Line {i}: " + "y" * 300 for i in range(100)),
    ],
    ids=["free text", "escaped fact value", "many lines"],
)
async def test_long_alerts_are_truncated_below_teams_limit(
    workflow: Workflow, client: httpx.AsyncClient, text: str
) -> None:
    assert len(text.encode()) >= 30_000
    await TeamsSender(workflow.url, client=client).send("", Reply(text))
    raw = workflow.bodies[-1]
    assert len(raw) <= MAX_PAYLOAD_BYTES < 28 * 1024
    assert "…" in raw.decode()
    body = workflow.card["body"]
    assert body[0]["text"].startswith("URGENT")
    assert body[-1]["text"] == ACKNOWLEDGE_HINT


@pytest.mark.parametrize(
    ("retry_after", "expected"), [("7", 7.0), (None, 30.0), ("soon", 30.0), ("-5", 0.0)]
)
async def test_429_is_retried_after_the_header_or_30_seconds(
    workflow: Workflow,
    client: httpx.AsyncClient,
    retry_after: str | None,
    expected: float,
) -> None:
    workflow.mode, workflow.retry_after = "throttle", retry_after
    with pytest.raises(DeliveryError) as raised:
        await TeamsSender(workflow.url, client=client).send("", Reply(ALERT))
    assert not isinstance(raised.value, PermanentDeliveryError)
    assert (raised.value.reason, raised.value.retry_after) == ("retry_after", expected)


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 11, 26, 10, 42, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert teams.retry_after_seconds(header, now=now) == 90.0


@pytest.mark.parametrize(("mode", "reason"), [("fail", "teams_500"), ("timeout", "teams_408")])
async def test_server_errors_are_retryable(
    workflow: Workflow, client: httpx.AsyncClient, mode: str, reason: str
) -> None:
    workflow.mode = mode
    with pytest.raises(DeliveryError) as raised:
        await TeamsSender(workflow.url, client=client).send("", Reply(ALERT))
    assert not isinstance(raised.value, PermanentDeliveryError)
    assert (raised.value.reason, raised.value.retry_after) == (reason, None)


async def test_other_client_errors_are_permanent(
    workflow: Workflow, client: httpx.AsyncClient
) -> None:
    workflow.mode = "bad"
    with pytest.raises(PermanentDeliveryError) as raised:
        await TeamsSender(workflow.url, client=client).send("", Reply(ALERT))
    assert raised.value.reason == "teams_400"


async def test_a_hanging_server_times_out_as_unreachable(
    workflow: Workflow, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    workflow.mode = "hang"
    sender = TeamsSender(workflow.url, client=client, timeout=0.3)
    with pytest.raises(DeliveryError) as raised:
        await asyncio.wait_for(sender.send("", Reply(ALERT)), timeout=5)
    assert not isinstance(raised.value, PermanentDeliveryError)
    assert raised.value.reason == "teams_unreachable"
    assert "ReadTimeout" in caplog.text
    _assert_no_secret(caplog, workflow.url, str(raised.value), repr(raised.value))


async def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}{QUERY}"
    sender = TeamsSender(url, timeout=2)  # its own client this time
    try:
        with pytest.raises(DeliveryError) as raised:
            await sender.send("", Reply(ALERT))
    finally:
        await sender.aclose()
    assert raised.value.reason == "teams_unreachable"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    _assert_no_secret(caplog, url, str(raised.value), repr(raised.value), repr(sender))


async def test_the_signed_url_never_reaches_logs_errors_or_repr(
    workflow: Workflow, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = TeamsSender(workflow.url, client=client)
    await sender.send("", Reply(ALERT))
    # httpx logs every request's full URL at INFO; the sender masks it there.
    assert "HTTP Request: POST" in caplog.text and "202" in caplog.text
    errors: list[BaseException] = []
    for mode in ("throttle", "fail", "timeout", "bad"):
        workflow.mode = mode
        with pytest.raises(DeliveryError) as raised:
            await sender.send("", Reply(ALERT))
        errors.append(raised.value)
    texts = [text for error in errors for text in (str(error), repr(error))]
    _assert_no_secret(caplog, workflow.url, *texts, repr(sender), str(vars(errors[0])))
    assert [r.__dict__.get("status") for r in caplog.records if r.name == teams.__name__] == [
        202,
        429,
        500,
        408,
        400,
    ]


@pytest.mark.parametrize(
    "url",
    [
        f"http://teams.example.org{WEBHOOK_PATH}{QUERY}",
        f"ftp://127.0.0.1{WEBHOOK_PATH}{QUERY}",
        f"not a url{QUERY}",
        "",
    ],
)
def test_bad_webhook_urls_are_refused_without_quoting_them(url: str) -> None:
    with pytest.raises(ValueError) as raised:
        TeamsSender(url)
    assert SECRET not in str(raised.value)


async def test_aclose_leaves_a_shared_client_open(
    workflow: Workflow, client: httpx.AsyncClient
) -> None:
    sender = TeamsSender(workflow.url, client=client)
    await sender.aclose()
    assert not client.is_closed
    own = TeamsSender(workflow.url)
    await own.aclose()
    assert own._client.is_closed
