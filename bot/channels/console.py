"""Console channel: the terminal demo and the fastest tests use the same dialogs as Telegram."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from bot.channels.types import Button, Reply
from bot.numbers import whole_number

CHANNEL = "console"
STAFF_CHAT = "staff"


@dataclass
class ConsoleSender:
    """Prints replies with buttons as numbered choices; keeps staff messages for `!staff`."""

    out: TextIO
    channel: str = CHANNEL
    choices: list[Button] = field(default_factory=list)
    staff_messages: list[str] = field(default_factory=list)
    unread_staff: int = 0

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Print a reply for the patient, or file a message for the staff view."""
        if chat_id == STAFF_CHAT:
            self.staff_messages.append(reply.text)
            self.unread_staff += 1
            return
        self.out.write("\n" + _indent(reply.text) + "\n")
        buttons = [button for row in reply.buttons for button in row]
        if buttons:
            self.choices = buttons
            numbered = "   ".join(f"[{n}] {b.label}" for n, b in enumerate(buttons, start=1))
            self.out.write(_indent(numbered) + "\n")
        self.out.flush()

    def choice(self, typed: str) -> Button | None:
        """The button a typed number stands for, if it is one of the last choices shown."""
        text = typed.strip()
        number = whole_number(text)
        if number is not None and 1 <= number <= len(self.choices):
            return self.choices[int(text) - 1]
        return None


def _indent(text: str) -> str:
    return "\n".join(f"  bot │ {line}" if line else "  bot │" for line in text.splitlines())
