"""Log lines carry ids and counts as key=value, and never the bot token."""

from __future__ import annotations

import logging

from bot.app.runtime import KeyValueFormatter, _NoSecrets


def test_extras_are_appended_as_key_value() -> None:
    record = logging.makeLogRecord(
        {"msg": "turn committed", "levelname": "INFO", "name": "bot.app.turns", "replies": 2}
    )
    line = KeyValueFormatter("%(levelname)s %(name)s %(message)s").format(record)
    assert line == "INFO bot.app.turns turn committed replies=2"


def test_a_record_containing_the_token_has_its_message_replaced() -> None:
    record = logging.makeLogRecord({"msg": "GET https://api/bot%s/getMe", "args": ("123:SECRET",)})
    assert _NoSecrets("123:SECRET").filter(record)
    assert "SECRET" not in record.getMessage()
