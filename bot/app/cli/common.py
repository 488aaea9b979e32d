"""What every `pmp` command shares: settings, the runtime they work in, and printing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import click

from bot.app.runtime import Runtime, open_runtime
from bot.config import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class CliContext:
    """What the commands take from whoever runs them (`ctx.obj`): how to open the runtime.
    A test passes one that gives the runtime its own clock."""

    open_runtime: Callable[[Settings], Awaitable[Runtime]] = open_runtime


def settings() -> Settings:
    """Settings from the environment and .env."""
    return Settings()


def with_runtime(work: Callable[[Runtime], Awaitable[T]], given: Settings | None = None) -> T:
    """Open the database (migrated), run `work`, close."""
    context = click.get_current_context(silent=True)
    found = context.find_object(CliContext) if context is not None else None
    opener = (found or CliContext()).open_runtime

    async def main() -> T:
        runtime = await opener(given or settings())
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


def emit(data: Any, as_json: bool, text: str) -> None:
    """JSON for scripts, or the text for people."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def day(iso: str) -> str:
    """'Mon 07 Dec 2026' from an ISO date."""
    return date.fromisoformat(iso).strftime("%a %d %b %Y")
