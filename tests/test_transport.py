"""The Bot API transport (bot/telegram/transport.py) against real HTTP servers on 127.0.0.1:
kept-alive connections reused, a connection the server closed while idle replaced without losing
or repeating a request, what was sent never sent twice, answers in every framing, https."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable

import pytest
from telegram.error import NetworkError, TimedOut

import bot.telegram.transport as transport
from bot.telegram.retry import RetryingRequest
from bot.telegram.transport import NOT_SENT, StreamRequest
from tests.telegram_fixtures import TOKEN

OK = b'{"ok":true,"result":true}'

Handler = Callable[
    ["ScriptedServer", asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]
]


async def answer_ok(server, reader, writer, request: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(OK), OK))
    return True


class ScriptedServer:
    """An HTTP/1.1 server: reads each request whole (head and Content-Length body), records it
    with its connection's number, and lets `handler` answer; the handler returns whether the
    connection stays open. `idle_close`: seconds after which an idle connection is closed."""

    def __init__(self, handler: Handler = answer_ok, idle_close: float | None = None) -> None:
        self.handler = handler
        self.idle_close = idle_close
        self.requests: list[tuple[int, bytes]] = []
        self.connections = 0
        self.closed_idle = 0
        self.ssl: ssl.SSLContext | None = None
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        for writer in getattr(self, "_writers", []):
            writer.close()
        await self._server.wait_closed()

    def url(self, method: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}/bot{TOKEN}/{method}"

    def bodies(self) -> list[bytes]:
        return [request.split(b"\r\n\r\n", 1)[1] for _, request in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self._writers = [*getattr(self, "_writers", []), writer]
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_close):
                        head = await reader.readuntil(b"\r\n\r\n")
                except TimeoutError:
                    self.closed_idle += 1
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append((number, request))
                if not await self.handler(self, reader, writer, request):
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def request_class(cls=StreamRequest, **kwargs):
    request = cls(**kwargs)
    await request.initialize()
    try:
        yield request
    finally:
        await request.shutdown()


async def test_calls_share_one_kept_alive_connection():
    async with ScriptedServer() as server, request_class() as request:
        for n in range(3):
            assert await request.post(server.url("sendMessage"), _data(n)) is True
    assert [number for number, _ in server.requests] == [1, 1, 1]
    assert server.bodies() == [b'{"chat_id": "7", "text": "%d"}' % n for n in range(3)]
    first_line, *headers = server.requests[0][1].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert first_line == f"POST /bot{TOKEN}/sendMessage HTTP/1.1".encode()
    assert b"Content-Type: application/json" in headers


async def test_a_connection_the_server_closed_while_idle_is_replaced_and_nothing_repeated():
    async with (
        ScriptedServer(idle_close=0.1) as server,
        request_class(cls=RetryingRequest, backoff=0.01) as request,
    ):
        assert await request.post(server.url("sendMessage"), _data(1)) is True
        await asyncio.sleep(0.3)  # the server closes the idle connection meanwhile
        assert await request.post(server.url("sendMessage"), _data(2)) is True
    assert server.closed_idle >= 1
    assert [number for number, _ in server.requests] == [1, 2]  # each once, the second anew
    assert server.bodies() == [b'{"chat_id": "7", "text": "1"}', b'{"chat_id": "7", "text": "2"}']


async def test_a_connection_idle_for_the_keepalive_time_is_not_reused(monkeypatch):
    monkeypatch.setattr(transport, "KEEPALIVE", 0.1)
    async with ScriptedServer() as server, request_class() as request:
        await request.post(server.url("getMe"))
        await asyncio.sleep(0.2)
        await request.post(server.url("getMe"))
    assert [number for number, _ in server.requests] == [1, 2]


async def test_what_a_server_said_unasked_on_an_idle_connection_is_not_taken_for_an_answer():
    async def then_408(server, reader, writer, request):
        await answer_ok(server, reader, writer, request)
        writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)  # keeps the connection open a while: not ended yet
        return False

    async with ScriptedServer(then_408) as server, request_class() as request:
        await request.post(server.url("getMe"))
        await asyncio.sleep(0.1)
        assert await request.post(server.url("getMe")) is True
    assert [number for number, _ in server.requests] == [1, 2]


async def test_a_request_written_then_met_by_a_closed_connection_is_not_sent_again():
    async def hang_up(server, reader, writer, request):
        return False  # read, perhaps acted on, never answered

    async with (
        ScriptedServer(hang_up) as server,
        request_class(cls=RetryingRequest, backoff=0.01) as request,
    ):
        with pytest.raises(NetworkError, match="closed the connection before answering") as err:
            await request.post(server.url("sendMessage"), _data(1))
    assert not isinstance(err.value, TimedOut)
    assert TOKEN not in str(err.value)
    assert len(server.requests) == 1


async def test_a_late_answer_times_out_and_is_not_sent_again():
    async def late(server, reader, writer, request):
        await asyncio.sleep(0.5)
        return await answer_ok(server, reader, writer, request)

    async with (
        ScriptedServer(late) as server,
        request_class(cls=RetryingRequest, read_timeout=0.1, backoff=0.01) as request,
    ):
        with pytest.raises(TimedOut):
            await request.post(server.url("sendMessage"), _data(1))
        assert await request.post(server.url("sendMessage"), _data(2), read_timeout=2) is True
    assert len(server.requests) == 2


async def test_no_free_connection_in_time_is_a_time_out_with_nothing_sent():
    release = asyncio.Event()

    async def held(server, reader, writer, request):
        await release.wait()
        return await answer_ok(server, reader, writer, request)

    async with ScriptedServer(held) as server, request_class(connection_pool_size=1) as request:
        first = asyncio.create_task(request.post(server.url("getMe")))
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut, match="Pool timeout") as err:
            await request.post(server.url("getMe"), pool_timeout=0.05)
        assert isinstance(err.value.__cause__, NOT_SENT)
        release.set()
        assert await first is True
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\n\r\n5\r\n"
        + OK[:5]
        + b"\r\n"
        + b"%x\r\n" % (len(OK) - 5)
        + OK[5:]
        + b"\r\n0\r\n\r\n",
        b"Connection: close\r\n\r\n" + OK,  # no length: the body ends with the connection
    ],
    ids=["chunked", "until-closed"],
)
async def test_answers_in_every_framing_are_read(framing):
    async def answer(server, reader, writer, request):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + framing)
        return b"chunked" in framing

    async with ScriptedServer(answer) as server, request_class() as request:
        assert await request.post(server.url("getMe")) is True
        assert await request.post(server.url("getMe")) is True
    expected = [1, 1] if b"chunked" in framing else [1, 2]
    assert [number for number, _ in server.requests] == expected


async def test_a_file_goes_as_multipart_with_its_name_and_the_other_parameters():
    from telegram import InputFile
    from telegram.request import RequestData
    from telegram.request._requestparameter import RequestParameter

    document = InputFile(b"%PDF-1.4 bytes", filename='r\xe9sum\xe9 "v2".pdf', attach=False)
    data = RequestData(
        [
            RequestParameter.from_input("chat_id", 7),
            RequestParameter.from_input("document", document),
        ]
    )
    async with ScriptedServer() as server, request_class() as request:
        await request.post(server.url("sendDocument"), data)
    head, body = server.requests[0][1].split(b"\r\n\r\n", 1)
    boundary = head.split(b"boundary=")[1].split(b"\r\n")[0]
    parts = body.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n"
    assert b'name="chat_id"\r\n\r\n7\r\n' in parts[1]
    assert b'filename="r\xc3\xa9sum\xc3\xa9 %22v2%22.pdf"' in parts[2]
    assert parts[2].endswith(b"\r\n\r\n%PDF-1.4 bytes\r\n")


async def test_https_with_the_systems_trusted_certificates(tmp_path, monkeypatch):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    server = ScriptedServer()
    server.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.ssl.load_cert_chain(cert, key)
    async with server:
        async with request_class() as request:  # the system's authorities: not trusted
            with pytest.raises(NetworkError, match=r"ConnectError.*CERTIFICATE_VERIFY_FAILED"):
                await request.post(server.url("getMe", host="localhost", scheme="https"))
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted, as a system's would be
        async with request_class() as request:
            for _ in range(2):
                assert await request.post(server.url("getMe", "localhost", "https")) is True
    assert [number for number, _ in server.requests] == [1, 1]


def _data(n: int):
    from telegram.request import RequestData
    from telegram.request._requestparameter import RequestParameter

    return RequestData(
        [RequestParameter.from_input("chat_id", 7), RequestParameter.from_input("text", str(n))]
    )
