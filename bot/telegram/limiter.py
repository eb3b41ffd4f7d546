"""Pacing of what Telegram limits: messages sent, overall, per chat and per group.

Telegram asks bots to send about 30 messages a second at most overall, one a second to a chat
and 20 a minute to a group, and answers 429 ("retry after N seconds") beyond. Those limits
concern messages sent (sendMessage, sendPhoto, sendDocument, sendMediaGroup, copies and
forwards...). Editing a message, answering a button tap or showing "typing..." creates no
message: `SendLimiter` lets them through at once, so a reply to a button is never queued behind
a burst of reminders.

Every send waits for its turn: a token of the overall bucket (`overall_per_second`, bursts of
`overall_burst`), its chat free (`chat_interval` seconds after Telegram answered the chat's
previous message, so however late a request reaches Telegram, two to one chat are never
closer than that) and, for a group, a token of the group's bucket (`group_per_minute`, bursts
of `group_burst`).

Except one thing: the reply to the update being handled is not held to its chat's pace (the
overall and group ones still apply). A user's updates are handled one at a time, so a reply
waiting a second for its chat would hold that user's next update that second; Telegram allows
a chat such a short burst (an error and the question again, a summary in parts).
`replying()` marks that path (bot/telegram/app.py sets it before any handler runs); messages
sent from a task of their own (reminders, a PDF) call `not_replying()` and are paced per
chat. It is the bot's only pacing layer:
the reminder dispatcher asks `chat_delay` before it takes a chat's turn (bot/reminders/).
A 429 on any request is retried after the `retry_after` Telegram gives, up to `max_retries`
times, and every other request waits that long too (Telegram asked the bot to slow down).
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

logger = logging.getLogger(__name__)

#: Bot API methods that create messages: the only ones paced.
SEND_METHODS = frozenset(
    {
        "sendmessage",
        "senddocument",
        "sendphoto",
        "sendmediagroup",
        "sendaudio",
        "sendvideo",
        "sendanimation",
        "sendvoice",
        "sendvideonote",
        "sendsticker",
        "sendlocation",
        "sendvenue",
        "sendcontact",
        "sendpoll",
        "senddice",
        "sendinvoice",
        "sendgame",
        "sendpaidmedia",
        "copymessage",
        "copymessages",
        "forwardmessage",
        "forwardmessages",
    }
)


_REPLYING: contextvars.ContextVar[bool] = contextvars.ContextVar("replying", default=False)


def replying() -> None:
    """From here on in this task, messages are replies to the update being handled."""
    _REPLYING.set(True)


def not_replying() -> None:
    """From here on in this task, messages are paced per chat (a task of its own)."""
    _REPLYING.set(False)


class _Bucket:
    """A token bucket on the event loop's clock: `rate` tokens a second, `capacity` at most."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1

    def full(self, now: float) -> bool:
        return self.wait(now) == 0.0 and self.tokens >= self.capacity


class SendLimiter(BaseRateLimiter[dict[str, Any]]):
    """A PTB rate limiter that paces sends only and retries 429s (see the module docstring).

    The defaults stay a little under Telegram's published limits, so that requests a few
    milliseconds late or early on the way do not add up to a 429.
    """

    def __init__(
        self,
        *,
        overall_per_second: float = 29.5,
        overall_burst: int = 20,
        chat_interval: float = 1.02,
        group_per_minute: float = 19.0,
        group_burst: int = 10,
        max_retries: int = 3,
        time: Callable[[], float] | None = None,
    ) -> None:
        if overall_per_second <= 0 or group_per_minute <= 0 or chat_interval < 0:
            raise ValueError("rates must be positive and the chat interval not negative")
        if overall_burst < 1 or group_burst < 1 or max_retries < 0:
            raise ValueError("bursts must be at least 1 and max_retries not negative")
        self.overall_per_second = overall_per_second
        self.overall_burst = overall_burst
        self.chat_interval = chat_interval
        self.group_per_minute = group_per_minute
        self.group_burst = group_burst
        self.max_retries = max_retries
        self._time = time
        self._overall: _Bucket | None = None
        self._chat_free_at: dict[int | str, float] = {}  # chat -> when it may get a message
        self._chat_busy: set[int | str] = set()  # chats with a message on its way
        self._groups: dict[int | str, _Bucket] = {}
        self._resume_at = 0.0  # no send before this (a 429 on a send)
        self._sweeps = 0
        # Sends waiting for the overall bucket queue here, in order: only the first one sleeps
        # until the next token (all of them sleeping on their own would each wake up for every
        # token, a cost that grows with the square of the waiting sends).
        self._line: asyncio.Lock | None = None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def _now(self) -> float:
        return self._time() if self._time is not None else asyncio.get_running_loop().time()

    # ---- what the reminder dispatcher asks -------------------------------------------------

    def chat_delay(self, chat_id: int | str) -> float:
        """Seconds until a message to chat_id could leave, counting its chat's (and group's)
        pace and a 429 pause, not the overall one (0: now)."""
        now = self._now()
        return max(self._resume_at - now, self._chat_wait(chat_id, now))

    # ---- PTB's interface -------------------------------------------------------------------

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        paced = endpoint.lower() in SEND_METHODS
        chat_id = data.get("chat_id")
        chat = chat_id if paced and isinstance(chat_id, int | str) else None
        reply = _REPLYING.get()
        for attempt in range(self.max_retries + 1):
            if paced:
                await self._turn(chat, reply=reply)
            else:
                await self._pause_over()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == self.max_retries:
                    raise
                wait = _retry_after(exc) + 0.1
                self._resume_at = max(self._resume_at, self._now() + wait)
                logger.warning(
                    "Bot API %s: Telegram asked to wait %.1f s; try %s of %s then",
                    endpoint,
                    wait,
                    attempt + 2,
                    self.max_retries + 1,
                )
            finally:
                if chat is not None:
                    self._chat_done(chat)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # ---- pacing ----------------------------------------------------------------------------

    async def _pause_over(self) -> None:
        """Wait until the pause asked by a 429 is over."""
        # The pause may grow while we sleep (another 429): look again after each wait.
        while (wait := self._resume_at - self._now()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    async def _turn(self, chat_id: int | str | None, *, reply: bool = False) -> None:
        """Wait until a message to chat_id may leave, then take its tokens and its chat (a
        reply skips its chat's pace, not its group's)."""
        if self._line is None:
            self._line = asyncio.Lock()
        while True:
            # Its chat, its group and a 429 pause first, each send on its own...
            wait = self._own_wait(chat_id, self._now(), reply=reply)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            # ... then the overall bucket, in line (asyncio's locks wake their waiters in order).
            async with self._line:
                now = self._now()
                # A token comes by time alone, no event: sleep until it is there.
                while (wait := self._overall_bucket(now).wait(now)) > 0:
                    await asyncio.sleep(wait)
                    now = self._now()
                if self._own_wait(chat_id, now, reply=reply) > 0:
                    continue  # something changed meanwhile (a 429, the chat's other message)
                buckets = [self._overall_bucket(now)]
                if chat_id is not None:
                    buckets += self._group_buckets(chat_id, now)
                for bucket in buckets:
                    bucket.take()
                if chat_id is not None:
                    self._chat_busy.add(chat_id)
                self._sweep(now)
                return

    def _own_wait(self, chat_id: int | str | None, now: float, *, reply: bool) -> float:
        """Seconds until a 429 pause, the chat's pace (unless a reply) and its group's bucket
        allow a message to chat_id (0: now)."""
        wait = self._resume_at - now
        if chat_id is not None:
            if not reply:
                wait = max(wait, self._chat_wait(chat_id, now))
            wait = max([wait, *(bucket.wait(now) for bucket in self._group_buckets(chat_id, now))])
        return wait

    def _chat_wait(self, chat_id: int | str, now: float) -> float:
        if chat_id in self._chat_busy:
            return max(self.chat_interval, 0.01)  # its previous message is on its way
        wait = self._chat_free_at.get(chat_id, now) - now
        return max([wait, *(b.wait(now) for b in self._group_buckets(chat_id, now))])

    def _chat_done(self, chat_id: int | str) -> None:
        self._chat_busy.discard(chat_id)
        if self.chat_interval > 0:
            self._chat_free_at[chat_id] = self._now() + self.chat_interval

    def _overall_bucket(self, now: float) -> _Bucket:
        if self._overall is None:
            self._overall = _Bucket(self.overall_per_second, self.overall_burst, now)
        return self._overall

    def _group_buckets(self, chat_id: int | str, now: float) -> list[_Bucket]:
        if not _is_group(chat_id):
            return []
        group = self._groups.get(chat_id)
        if group is None:
            group = self._groups[chat_id] = _Bucket(
                self.group_per_minute / 60, self.group_burst, now
            )
        return [group]

    def _sweep(self, now: float) -> None:
        """Forget chats free again and full group buckets, now and then (memory stays flat)."""
        self._sweeps += 1
        if self._sweeps % 1000:
            return
        for chat in [chat for chat, free in self._chat_free_at.items() if free <= now]:
            del self._chat_free_at[chat]
        for group in [group for group, bucket in self._groups.items() if bucket.full(now)]:
            del self._groups[group]


def _is_group(chat_id: int | str) -> bool:
    """Groups and channels have negative ids (or a @username, for channels)."""
    return isinstance(chat_id, str) or chat_id < 0


def _retry_after(exc: RetryAfter) -> float:
    """retry_after in seconds, whether PTB gives a timedelta or (deprecated) a number."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return max(value.total_seconds() if isinstance(value, dt.timedelta) else float(value), 0.0)
