"""The Bot API transport: PTB's request interface on asyncio's own sockets, HTTP/1.1 kept alive.

PTB builds every call (parameters, files, time-outs), parses every answer and raises its errors
as usual; only the HTTP exchange below it is ours. The bot talks to one host (the Bot API
server) with a handful of request shapes, so the exchange is small: a request written in one
piece, an answer read into one buffer (Content-Length, chunked, or up to the connection's end),
connections kept open and reused, TLS by the standard library's `ssl` for https. No HTTP
library is imported at start-up, and a call costs the client less CPU than with httpx or aiohttp
(BENCHMARKS.md, "Bot API transport").

Same contract as PTB's HTTPXRequest: the same parameters (multipart when a file is sent), the
same default time-outs, `TimedOut` for a time-out, `NetworkError` for any other failure, never
with the bot token in its message. Without a file, the parameters go as one JSON object (PTB's
`RequestData.json_payload`: Telegram takes application/json, a keyboard as an object).

Time-outs: `pool_timeout` for a free connection, `connect_timeout` to open one (TLS handshake
included), `write_timeout` (`media_write_timeout` with a file) while the request waits to be
written, `read_timeout` between two pieces of the answer. No proxy: the bot connects to the Bot
API server directly, as it did on aiohttp.

What was sent, and what was not (bot/telegram/retry.py sends again only what Telegram cannot
have acted on): a failure whose cause is one of `NOT_SENT` happened before any byte of the
request left (no free connection in time, the connection could not be made). A kept-alive
connection the server has closed while it waited in the pool is never written to: its end (or
anything it received unasked) is seen before it is reused, and it is replaced by a new
connection, silently. A connection idle for `keepalive` seconds is closed by us first, so that
a server closing idle connections (after more than that) does not close one as we write on it.
Once a request is written, a connection that ends without an answer is ambiguous (the server
may have acted before it went away): `NetworkError`, not repeated.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import time
from typing import Any
from urllib.parse import quote, urlsplit

from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.memory import release_freed_memory


class RequestNotSent(Exception):
    """Nothing of the request reached the server (the cause of a `NetworkError`)."""


#: Causes of a `NetworkError` that prove nothing of the request was sent.
NOT_SENT: tuple[type[BaseException], ...] = (RequestNotSent,)

KEEPALIVE = 15.0  # seconds a connection may wait in the pool before we close it
MAX_HEAD = 64 * 1024  # an answer's status line and headers, at most
TRIM_AFTER = 64 * 1024  # a request this large (a chart, a PDF): freed memory given back after
_TOKEN_PATH = re.compile(r"/bot[^/\s]+")
_CRLF = b"\r\n"
_END_OF_HEAD = b"\r\n\r\n"


class _Closed(Exception):
    """The connection ended before the answer was complete."""


class _Connection(asyncio.Protocol):
    """One connection to the server: what it receives is kept in `buffer`, read by `_exchange`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int]) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False  # the server closed its side, or the connection was lost
        self.lost: BaseException | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._writable = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.lost = exc
        self._writable = True
        self._wake()

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._wake()

    # ours
    def reusable(self, now: float) -> bool:
        """Still open, nothing received since its last answer, not idle too long."""
        transport = self.transport
        return (
            not self.ended
            and not self.buffer
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < KEEPALIVE
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, limit: float | None) -> None:
        """Until something happens on the connection, at most `limit` seconds."""
        waiter = self._waiter = self.loop.create_future()
        timer = None if limit is None else self.loop.call_later(limit, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def send(self, data: bytes, limit: float | None) -> None:
        assert self.transport is not None
        self.transport.write(data)
        while not self._writable and not self.ended:
            await self._wait(limit)
        if self.ended:
            raise _Closed

    async def _head(self, limit: float | None) -> bytes:
        start = 0
        while True:
            end = self.buffer.find(_END_OF_HEAD, start)
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 4]
                return head
            if len(self.buffer) > MAX_HEAD:
                raise NetworkError("the Bot API server's answer has too long a head")
            if self.ended:
                raise _Closed
            start = max(0, len(self.buffer) - 3)
            await self._wait(limit)

    async def _exactly(self, size: int, limit: float | None) -> bytes:
        while len(self.buffer) < size:
            if self.ended:
                raise _Closed
            await self._wait(limit)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def _line(self, limit: float | None) -> bytes:
        while (end := self.buffer.find(_CRLF)) < 0:
            if self.ended:
                raise _Closed
            await self._wait(limit)
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def _chunked(self, limit: float | None) -> bytes:
        body = bytearray()
        while True:
            size = int((await self._line(limit)).split(b";", 1)[0], 16)
            if size == 0:
                while await self._line(limit):  # trailers, up to the empty line
                    pass
                return bytes(body)
            body += await self._exactly(size, limit)
            await self._exactly(2, limit)  # the CRLF after the chunk

    async def receive(self, method: str, limit: float | None) -> tuple[int, bytes, bool]:
        """The answer: its status, its body, and whether the connection may be reused."""
        while True:
            head = await self._head(limit)
            status_line, _, fields = head.partition(_CRLF)
            version, _, rest = status_line.partition(b" ")
            try:
                status = int(rest[:3])
            except ValueError:
                raise NetworkError("the Bot API server's answer is not HTTP") from None
            if not 100 <= status < 200:
                break  # an interim answer (100 Continue) is followed by the real one
        length: int | None = None
        chunked = False
        keep = version == b"HTTP/1.1"
        for field in fields.split(_CRLF):
            name, _, value = field.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                keep = token == b"keep-alive" or (keep and token != b"close")
        if method == "HEAD" or status in (204, 304):
            return status, b"", keep
        if chunked:
            return status, await self._chunked(limit), keep
        if length is not None:
            return status, await self._exactly(length, limit), keep
        while not self.ended:  # the body lasts until the server closes the connection
            await self._wait(limit)
        body = bytes(self.buffer)
        self.buffer.clear()
        return status, body, False


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class StreamRequest(BaseRequest):
    """A PTB request class: a pool of kept-alive connections to the Bot API server."""

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
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[_Connection] = []  # the most recently used last
        self._busy: set[_Connection] = set()
        self._targets: dict[str, tuple[tuple[str, str, int], bytes]] = {}
        self._ssl: ssl.SSLContext | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        for connection in self._idle + list(self._busy):
            connection.close()
        self._idle.clear()
        self._busy.clear()
        self._slots = None

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
        slots = self._slots
        if slots is None:
            raise RuntimeError("This StreamRequest is not initialized!")
        target = self._targets.get(url) or self._target(url)
        origin, start = target
        files = None
        body = kind = b""
        if request_data is not None:
            fields = request_data.json_parameters  # each value JSON-encoded, as PTB sends them
            if request_data.contains_files:
                files = request_data.multipart_data
                boundary, body = _multipart(fields, files)
                kind = b"multipart/form-data; boundary=" + boundary
            elif fields:
                body = json.dumps(fields).encode()  # PTB's RequestData.json_payload
                kind = b"application/json"
        message = method.encode() + start
        if body or method != "GET":
            if kind:
                message += b"Content-Type: " + kind + _CRLF
            message += b"Content-Length: " + str(len(body)).encode() + _END_OF_HEAD + body
        else:
            message += _CRLF
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)

        await self._slot(slots, _given(pool_timeout, self._pool_timeout))
        try:
            connection = self._reuse(origin) or await self._connect(
                origin, _given(connect_timeout, self._connect_timeout)
            )
            self._busy.add(connection)
            try:
                if connection.ended:  # closed by the server before we wrote a byte
                    raise NetworkError(
                        "the Bot API server closed the connection before the request was sent"
                    ) from _not_sent(connection.lost or _Closed())
                await connection.send(message, write)
                status, payload, keep = await connection.receive(method, read)
            except TimeoutError as err:
                connection.close()
                raise TimedOut from err
            except _Closed as err:
                connection.close()
                lost = connection.lost
                raise NetworkError(
                    "the Bot API server closed the connection before answering"
                    + (f" ({type(lost).__name__}: {_safe(lost)})" if lost is not None else "")
                ) from (lost or err)
            except (OSError, ValueError) as err:
                connection.close()
                raise NetworkError(f"{type(err).__name__}: {_safe(err)}") from err
            except BaseException:  # cancelled mid-exchange: the connection cannot be reused
                connection.close()
                raise
            finally:
                self._busy.discard(connection)
            if len(message) >= TRIM_AFTER:  # its copies are freed by now (bot/memory.py)
                del message, body
                release_freed_memory()
            if keep and not connection.ended and self._slots is slots:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return status, payload
        finally:
            slots.release()

    def _target(self, url: str) -> tuple[tuple[str, str, int], bytes]:
        """Where `url` goes (scheme, host, port) and its request's first lines after the
        method, kept."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise NetworkError(f"not an http(s) address: {scheme}://{parts.hostname}")
        port = parts.port or (443 if scheme == "https" else 80)
        path = quote(parts.path or "/", safe="/:@!$&'()*+,;=-._~%")
        if parts.query:
            path += "?" + parts.query
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
        if parts.port is not None:
            host += f":{parts.port}"
        origin = (scheme, parts.hostname, port)
        start = (
            f" {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {self.USER_AGENT}\r\nAccept: */*\r\n"
        )
        if len(self._targets) > 256:  # file addresses are many: keep the methods' only
            self._targets.clear()
        target = (origin, start.encode())
        self._targets[url] = target
        return target

    async def _slot(self, slots: asyncio.Semaphore, limit: float | None) -> None:
        if not slots.locked():
            await slots.acquire()  # at once
            return
        try:
            async with asyncio.timeout(limit):
                await slots.acquire()
        except TimeoutError as err:
            raise TimedOut(
                "Pool timeout: all connections to Telegram are in use; the request was not sent"
            ) from _not_sent(err)

    def _reuse(self, origin: tuple[str, str, int]) -> _Connection | None:
        now = time.monotonic()
        idle = self._idle
        while idle and now - idle[0].idle_since >= KEEPALIVE:  # the longest idle: closed
            idle.pop(0).close()
        for index in range(len(idle) - 1, -1, -1):
            connection = idle[index]
            if connection.origin != origin:
                continue
            del idle[index]
            if connection.reusable(now):
                return connection
            connection.close()  # ended, or spoke unasked, or idle too long: never written to
        return None

    async def _connect(self, origin: tuple[str, str, int], limit: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            async with asyncio.timeout(limit):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop, origin),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError as err:
            raise TimedOut("ConnectTimeout: the connection to Telegram timed out") from _not_sent(
                err
            )
        except (OSError, ssl.SSLError) as err:
            # Phrased like httpx's ConnectError, which logs and tests have known so far.
            raise NetworkError(f"ConnectError: {type(err).__name__}: {_safe(err)}") from _not_sent(
                err
            )
        return connection


def _multipart(fields: dict[str, str], files: dict[str, Any]) -> tuple[bytes, bytes]:
    """A multipart/form-data body: its boundary and its bytes."""
    boundary = os.urandom(16).hex().encode()
    dash = b"--" + boundary
    parts: list[bytes] = []
    for name, value in fields.items():
        parts += (
            dash,
            b'\r\nContent-Disposition: form-data; name="' + _quoted(name) + b'"\r\n\r\n',
            str(value).encode(),
            _CRLF,
        )
    for name, (filename, content, mimetype) in files.items():
        if not isinstance(content, bytes):
            content = content.read()  # a file handle
        disposition = b'\r\nContent-Disposition: form-data; name="' + _quoted(name) + b'"'
        if filename:
            disposition += b'; filename="' + _quoted(filename) + b'"'
        parts += (
            dash,
            disposition,
            b"\r\nContent-Type: " + (mimetype or "application/octet-stream").encode(),
            _END_OF_HEAD,
            content,
            _CRLF,
        )
    parts += (dash, b"--\r\n")
    return boundary, b"".join(parts)


def _quoted(value: str) -> bytes:
    """A name in a Content-Disposition field, escaped as browsers escape it."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode()


def _not_sent(err: BaseException) -> RequestNotSent:
    marker = RequestNotSent(str(err))
    marker.__cause__ = err
    return marker


def _safe(err: BaseException) -> str:
    """The error's text without the bot token (a URL path holds it: /bot<token>/<method>)."""
    return _TOKEN_PATH.sub("/bot<token>", str(err))


def _given(value: Any, default: float | None) -> float | None:
    """A time-out passed to a bot method, or this request's default."""
    if isinstance(value, DefaultValue):
        return default
    return None if value is None else float(value)
