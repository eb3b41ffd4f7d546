"""GET /healthz while polling: a small HTTP server on asyncio's streams, nothing else served.

In webhook mode the webhook's server (web.py, aiohttp) answers /healthz as well; polling needs
no more than this one route, and the bot then loads no HTTP server library at all. Each
request gets its answer and the connection is closed (probes open one per check).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from bot.storage.database import Storage

logger = logging.getLogger(__name__)

READ_LIMIT = 8 * 1024  # a probe's request line and headers, at most
READ_TIME = 10.0  # seconds a client has to send them


async def health(storage: Storage) -> tuple[int, dict[str, str]]:
    """The answer to /healthz: 200 when the database answers, 503 when it does not."""
    try:
        await storage.get_user("health:probe")
    except Exception:
        logger.warning("health check: the database does not answer", exc_info=True)
        return 503, {"status": "database unavailable"}
    return 200, {"status": "ok"}


REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class HealthServer:
    """Answers GET (and HEAD) /healthz; 404 elsewhere, 405 for another method."""

    def __init__(self, storage: Storage, *, host: str, port: int) -> None:
        self.storage = storage
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=READ_LIMIT
        )
        if self.port == 0:  # tests ask for any free port: remember which one we got
            self.port = self._server.sockets[0].getsockname()[1]
        logger.info("health endpoint listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIME):
                head = await reader.readuntil(b"\r\n\r\n")
            status, body, method = await self._answer(head)
            extra = "Allow: GET, HEAD\r\n" if status == 405 else ""
            writer.write(
                (
                    f"HTTP/1.1 {status} {REASONS[status]}\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
                ).encode()
                + (b"" if method == "HEAD" else body)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that went away, or never sent a request: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(self, head: bytes) -> tuple[int, bytes, str]:
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return 400, b'{"status": "not an HTTP request"}', ""
        method = parts[0].decode("latin-1")
        path = parts[1].split(b"?", 1)[0]
        if path != b"/healthz":
            return 404, b'{"status": "not found"}', method
        if method not in ("GET", "HEAD"):
            return 405, b'{"status": "method not allowed"}', method
        status, answer = await health(self.storage)
        return status, json.dumps(answer).encode(), method
