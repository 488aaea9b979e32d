"""Every `pmp` command the README shows runs as written, in order, on the README's own groups."""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.app.cli import main
from bot.app.runtime import Runtime
from bot.config import HOME
from bot.db.models import Invite
from tests.helpers import Chat
from tests.test_cli import cli  # noqa: F401  (the fixture: test database and clock)

README = HOME / "README.md"
_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def readme_commands() -> list[list[str]]:
    """The `pmp` commands in the README's bash blocks, in order, as argument lists."""
    commands = []
    for block in _BLOCK.findall(README.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == ".venv/bin/pmp":
                commands.append(words[1:])
    return commands


async def join(runtime: Runtime, user_id: str, name: str) -> Chat:
    """A patient joins group 1 with one of the codes `invite create` printed."""
    async with runtime.sessions() as session:
        code = await session.scalar(
            select(Invite.code)
            .where(Invite.cohort_id == 1, Invite.role == "patient", Invite.used_at.is_(None))
            .order_by(Invite.id)
        )
    assert code is not None
    chat = Chat(runtime, user_id=user_id)
    await chat.command("start", code)
    await chat.press("Yes, I agree")
    await chat.say(name)
    return chat


def test_the_readme_shows_the_staff_commands() -> None:
    firsts = [" ".join(words[:2]) for words in readme_commands()]
    for expected in (
        "cohort create",
        "patient book-review",
        "escalations resolve",
        "screen --file",
    ):
        assert expected in firsts


async def test_every_pmp_command_in_the_readme_runs_as_written(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAFF_TELEGRAM_IDS", "5001")
    (tmp_path / "messages.txt").write_text("this pain is killing me\nsee you Monday\n")
    joined = False
    reported = False
    for words in readme_commands():
        if words[0] == "patient" and not joined:  # "Once patients have joined"
            await join(runtime, "readme-1", "Robin")
            joined = True
        if words[0] == "escalations" and not reported:  # a patient wrote something worrying
            worried = await join(runtime, "readme-2", "Sam")
            await worried.say("I want to end my life")
            reported = True
        # `staff add` asks for the new password twice, as a person types it.
        typed = "a password for the readme\n" * 2 if words[:2] == ["staff", "add"] else None
        result = await asyncio.to_thread(cli.invoke, main, words, input=typed)
        assert result.exit_code == 0, f"pmp {shlex.join(words)}\n{result.output}"
        assert "Traceback" not in result.output
