"""The benchmark's third Bot API transport: PTB's request interface on aiohttp.

The bot's own transport (bot/telegram/transport.py, on asyncio's sockets) is measured against
this one and against PTB's HTTPXRequest (bench/transport.py). Same contract as HTTPXRequest:
the same parameters (multipart when a file is sent), the same default time-outs, `TimedOut` for
a time-out, `NetworkError` for any other failure, with the aiohttp exception as its cause.
Without a file, the parameters go as one JSON object (PTB's `RequestData.json_payload`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.telegram.transport import _given, _safe  # the same time-outs, the token kept out

#: aiohttp failures that happen before the request is sent (nothing reached Telegram).
NOT_SENT: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)

_JSON = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    """A PTB request class on one aiohttp session (created by `initialize`)."""

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        # aiohttp has no write time-out of its own: a request is given read + write at most.
        timeout = aiohttp.ClientTimeout(
            total=None if read is None or write is None else read + write + (connect or 0),
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | bytes | None = None
        headers = None
        if request_data is not None and fields and not files:
            data = request_data.json_payload  # nested values (a keyboard) as JSON objects
            headers = _JSON
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in (fields or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as res:
                return res.status, await res.read()
        except aiohttp.ConnectionTimeoutError as err:
            raise TimedOut("ConnectTimeout: the connection to Telegram timed out") from err
        except (TimeoutError, asyncio.TimeoutError) as err:  # noqa: UP041 (aiohttp raises either)
            raise TimedOut from err
        except aiohttp.ClientConnectorError as err:
            # Phrased like httpx's ConnectError, which logs and tests have known so far.
            raise NetworkError(
                f"ConnectError: aiohttp.{type(err).__name__}: {_safe(err)}"
            ) from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {_safe(err)}") from err
