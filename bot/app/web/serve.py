"""Serve an ASGI app with uvicorn inside the running event loop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


@dataclass
class Served:
    """A listening server and the task that runs it."""

    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def address(self) -> str:
        """`http://host:port` as bound (the port the system gave if asked for port 0)."""
        if not self.server.servers:
            return ""
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop listening and wait for requests under way to finish."""
        self.server.should_exit = True
        await self.task


async def serve(app: ASGIApp, host: str, port: int) -> Served:
    """Start a web server and return once it listens (or raise why it could not)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # access lines would name every chat's requests
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # uvicorn offers a flag, not an event, for "listening".
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if task.done():
        with contextlib.suppress(SystemExit):  # uvicorn's way of saying it could not bind
            task.result()
        raise OSError(
            f"the web server could not listen on {host}:{port}: is the port in use? "
            "Set WEB_PORT (and WEB_LISTEN) to another."
        )
    return Served(server, task)
