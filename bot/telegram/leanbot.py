"""The bot's Bot API client: the replies to messages sent or edited are not parsed, unless read.

python-telegram-bot turns Telegram's answer to every message sent or edited into a `Message`
(about 0.2 ms of CPU each: some eighty optional fields looked up and checked, the text's
entities and every button of its keyboard), two or three times per update and a dozen times at
the end of a checklist. The handlers read that answer once: the message id of a question they
send, to edit it when it is answered. `LeanBot` hands the other answers back as `True` (what
these methods already return for an inline message), and parses only inside `read_reply`, and
then only the message's id, date and chat (the fields a `Message` requires):

    with read_reply():
        sent = await context.bot.send_message(...)

What is sent, and when, does not change; only what the call returns.

The same goes for the updates fetched: a tap carries the message tapped, with every button of
its keyboard (a tenth of a millisecond to parse, about as much as the rest of the update). The
handlers only ask whether it had buttons (`keyboards.strip_keyboard`), so a tapped message's
keyboard is handed to python-telegram-bot empty: present when it had one, absent when not
(`without_tapped_buttons`; the webhook does the same, bot/telegram/web.py).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from telegram.ext import ExtBot

#: What a `Message` read inside `read_reply` holds of Telegram's answer: the fields it requires.
READ_FIELDS = ("message_id", "date", "chat")
#: Methods whose answer is the message sent or edited.
MESSAGE_REPLIES = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
    }
)

_READ: contextvars.ContextVar[bool] = contextvars.ContextVar("read_reply", default=False)


@contextlib.contextmanager
def read_reply() -> Iterator[None]:
    """Within this block, the bot's methods return the `Message` Telegram answered, with its
    id, date and chat only."""
    token = _READ.set(True)
    try:
        yield
    finally:
        _READ.reset(token)


class LeanBot(ExtBot[None]):
    """PTB's bot, but a message sent or edited outside `read_reply` returns `True`, and inside
    it a `Message` with its id, date and chat only."""

    async def _post(self, endpoint: str, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, *args, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            for update in result:
                without_tapped_buttons(update)
            return result
        if endpoint in MESSAGE_REPLIES and isinstance(result, dict):
            if not _READ.get():
                return True  # the caller returns it as is: no Message is built
            return {name: result[name] for name in READ_FIELDS if name in result}
        return result


def without_tapped_buttons(update: Any) -> None:
    """Empty the keyboard of the message a tap carries (see the module docstring)."""
    query = update.get("callback_query") if isinstance(update, dict) else None
    message = query.get("message") if isinstance(query, dict) else None
    if isinstance(message, dict) and message.get("reply_markup"):
        message["reply_markup"] = {"inline_keyboard": []}
