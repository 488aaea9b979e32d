"""Console channel: the terminal demo and the fastest tests use the same dialogs as Telegram."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TextIO

from bot.messages import Button, Reply
from bot.numbers import whole_number

# A button that is a number on a scale: "6", "25%", "25% - a little".
_SCALE_LABEL = re.compile(r"^\d{1,3}%?(?:$| )")

CHANNEL = "console"
STAFF_CHAT = "staff"
# The demo member of staff's own chat with the bot: details and outcome-note prompts go there.
PRIVATE_STAFF_CHAT = "staff-private"


@dataclass
class ConsoleSender:
    """Prints replies with buttons as numbered choices; shows staff messages beside them."""

    out: TextIO
    channel: str = CHANNEL
    choices: list[Button] = field(default_factory=list)
    # What staff were sent, in the group or privately, by message number (alerts are edited
    # in place); the numbers of the private ones.
    staff_messages: list[Reply] = field(default_factory=list)
    private_numbers: set[int] = field(default_factory=set)

    def new_turn(self) -> None:
        """Forget the choices shown: a typed number means one of those shown since."""
        self.choices = []

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Print a reply for the patient, or a message in the staff group; return its number."""
        if reply.document_name is not None:
            reply = Reply(f"[file {reply.document_name}]\n{reply.text}", reply.buttons)
        if chat_id in (STAFF_CHAT, PRIVATE_STAFF_CHAT):
            self.staff_messages.append(reply)
            number = len(self.staff_messages)
            if chat_id == PRIVATE_STAFF_CHAT:
                self.private_numbers.add(number)
            self._show_staff(number, reply, edited=False)
            return str(number)
        self.out.write("\n" + _indent(reply.text) + "\n")
        buttons = [button for row in reply.buttons for button in row]
        if buttons:
            # Several messages of one answer (a list of questions, each with its buttons):
            # the numbers run on, so every button can be reached.
            first = len(self.choices) + 1
            self.choices = [*self.choices, *buttons]
            if _a_scale(buttons):
                shown = "   ".join(f"[{b.label}]" for b in buttons) + "   (type a number)"
            else:
                shown = "   ".join(f"[{n}] {b.label}" for n, b in enumerate(buttons, start=first))
            self.out.write(_indent(shown) + "\n")
        self.out.flush()
        return None

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Change a staff message (an alert marked acknowledged or resolved)."""
        number = whole_number(message_id)
        if (
            chat_id not in (STAFF_CHAT, PRIVATE_STAFF_CHAT)
            or number is None
            or not 1 <= number <= len(self.staff_messages)
        ):
            return
        self.staff_messages[number - 1] = reply
        self._show_staff(number, reply, edited=True)

    def _show_staff(self, number: int, reply: Reply, edited: bool) -> None:
        """Staff messages appear in the transcript, marked so nobody mistakes them."""
        where = "to Sam privately" if number in self.private_numbers else "staff group"
        heading = f"{where}, message {number}" + (" (updated)" if edited else "")
        lines = [f"── {heading} ──", *reply.text.splitlines()]
        buttons = [button for row in reply.buttons for button in row]
        if buttons:
            commands = {"ack": "!ack", "res": "!resolve", "det": "!details"}
            typed = [
                commands[b.payload.split(":")[1]]
                for b in buttons
                if b.payload.count(":") == 2 and b.payload.split(":")[1] in commands
            ]
            hint = f"  (type {', '.join(f'{c} {number}' for c in typed)})" if typed else ""
            lines.append("buttons: " + " · ".join(b.label for b in buttons) + hint)
        self.out.write("\n" + "\n".join(f"  staff │ {line}" for line in lines) + "\n")
        self.out.flush()

    def staff_button(self, number: int, action: str) -> str | None:
        """The payload of a staff message's button for `action` (ack, res, det), if it has one."""
        if not 1 <= number <= len(self.staff_messages):
            return None
        for row in self.staff_messages[number - 1].buttons:
            for button in row:
                if button.payload.split(":")[1:2] == [action]:
                    return button.payload
        return None

    def choice(self, typed: str) -> Button | None:
        """The button a typed number stands for, if it is one of the last choices shown.

        A button labelled with exactly what was typed wins: on a 0 to 10 scale, "6" means 6.
        """
        text = typed.strip()
        for button in self.choices:
            if button.label == text:
                return button
        if _a_scale(self.choices):
            return None  # "5" on a scale of 0 to 100% means 5%, never the fifth button
        number = whole_number(text)
        if number is not None and 1 <= number <= len(self.choices):
            return self.choices[int(text) - 1]
        return None


def _a_scale(buttons: list[Button]) -> bool:
    """Whether the buttons are numbers on a scale ("0" to "10", "25% - a little")."""
    return any(_SCALE_LABEL.match(button.label) for button in buttons)


def _indent(text: str) -> str:
    return "\n".join(f"  bot │ {line}" if line else "  bot │" for line in text.splitlines())
