"""Bot API requests that Telegram certainly did not act on are sent again, with backoff.

The rate limiter (limiter.py) waits and retries a 429 (RetryAfter) only. Any other failure of a
send reaches the handler, whose reply is then lost and replaced by the error handler's apology.
This request class (the transport of transport.py), below the rate limiter, sends a
request again when its failure proves that Telegram did nothing with it:

* 502 Bad Gateway and 503 Service Unavailable: Telegram's front end could not hand the request
  to the Bot API server (what a Telegram restart looks like);
* the connection could not be made (refused, reset while connecting, connect time-out).

A 500, a 504 or a read time-out is ambiguous: the message may have been sent (a late answer of
the emulator, `slow_next`, is exactly that). Sending it again could show it twice, so it is not
repeated; the handler fails and the error handler apologises and shows the current question
(docs/reliability.md, "Every reply is delivered"). That apology, the user's only way to know
where they stand, is sent with `at_least_once`: twice is better than not at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.request import RequestData

from bot.telegram.priority import take_turn
from bot.telegram.transport import NOT_SENT, StreamRequest

logger = logging.getLogger(__name__)

#: Answers that mean the request never reached the Bot API server.
RETRY_STATUSES = frozenset({502, 503})


class RetryingRequest(StreamRequest):
    """The Bot API transport that repeats a request Telegram did not act on, `retries` times.

    Waits `backoff`, then twice as long each time (0.5, 1, 2 s by default: a Telegram restart
    lasts seconds; the user waits at most 3.5 s more for a reply).
    """

    def __init__(self, *args: Any, retries: int = 3, backoff: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retries = retries
        self.backoff = backoff

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]  # the URL holds the token: never log it
        for attempt in range(self.retries + 1):
            try:
                code, payload = await super().do_request(
                    url, method, request_data, *args, **kwargs
                )
            except NetworkError as exc:
                if attempt == self.retries or not isinstance(exc.__cause__, NOT_SENT):
                    raise
                reason = f"no connection ({type(exc.__cause__).__name__})"
            else:
                if code not in RETRY_STATUSES or attempt == self.retries:
                    await take_turn()  # low-priority work goes on in its turn (priority.py)
                    return code, payload
                reason = f"HTTP {code}"
            delay = self.backoff * 2**attempt
            logger.warning(
                "Bot API %s: %s, Telegram did not act on it; try %s of %s in %.1f s",
                endpoint,
                reason,
                attempt + 2,
                self.retries + 1,
                delay,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def at_least_once(
    send: Callable[[], Awaitable[None]], *, tries: int = 3, backoff: float = 0.5
) -> None:
    """Await `send()` until it succeeds, again after any network failure (a time-out or a 5xx
    included) or a RetryAfter (after the wait Telegram asked for), at most `tries` times.

    For messages that may arrive twice rather than not at all: `send` is repeated whole.

    Raises:
        The last failure once `tries` are used up; any other error (BadRequest...) at once.
    """
    for attempt in range(tries):
        try:
            await send()
            return
        except BadRequest:  # a NetworkError for PTB, but ours to fix: repeating it changes nothing
            raise
        except (NetworkError, RetryAfter) as exc:
            if attempt + 1 == tries:
                raise
            delay = backoff * 2**attempt
            if isinstance(exc, RetryAfter):
                wait = exc.retry_after
                delay = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            logger.warning(
                "sending failed (%s); try %s of %s in %.1f s", exc, attempt + 2, tries, delay
            )
            await asyncio.sleep(delay)
