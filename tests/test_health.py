"""/healthz while polling (bot/telegram/health.py): what a probe reads, over a real socket."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.telegram.health import HealthServer


class Database:
    """Answers get_user, or fails as an unreachable database does."""

    def __init__(self) -> None:
        self.down = False

    async def get_user(self, key: str) -> None:
        if self.down:
            raise ConnectionError("the database does not answer")


async def ask(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    answer = await reader.read()  # the server closes the connection after its answer
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode().split("\r\n")
    headers = dict(field.split(": ", 1) for field in fields)
    return int(status_line.split(" ")[1]), headers, body


@pytest.fixture
async def server():
    database = Database()
    health = HealthServer(database, host="127.0.0.1", port=0)
    await health.start()
    try:
        yield health, database
    finally:
        await health.stop()


async def test_healthz_is_200_while_the_database_answers_and_503_when_it_does_not(server):
    health, database = server
    status, headers, body = await ask(health.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Content-Type"].startswith("application/json")
    assert int(headers["Content-Length"]) == len(body)
    database.down = True
    status, _, body = await ask(health.port, b"GET /healthz?probe=1 HTTP/1.0\r\n\r\n")
    assert (status, json.loads(body)) == (503, {"status": "database unavailable"})


@pytest.mark.parametrize(
    ("request_line", "expected"),
    [
        (b"HEAD /healthz HTTP/1.1", 200),
        (b"GET /other HTTP/1.1", 404),
        (b"POST /healthz HTTP/1.1", 405),
        (b"hello", 400),
    ],
)
async def test_other_requests(server, request_line, expected):
    health, _ = server
    status, headers, body = await ask(health.port, request_line + b"\r\n\r\n")
    assert status == expected
    if expected == 405:
        assert headers["Allow"] == "GET, HEAD"
    if request_line.startswith(b"HEAD"):
        assert body == b""


async def test_a_client_that_sends_nothing_does_not_stop_the_others(server):
    health, _ = server
    _, silent = await asyncio.open_connection("127.0.0.1", health.port)
    status, _, _ = await ask(health.port, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert status == 200
    silent.close()
