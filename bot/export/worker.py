"""A render worker process (bot/export/pool.py starts it): draws what the bot sends it.

`python -m bot.export.worker FD`: FD is this end of a socket pair the bot keeps the other end
of. Each request is a pickled (function, arguments) behind its length (8 bytes, little-endian);
each answer one byte (1: the function's result, 0: the exception it raised), then the pickled
value behind its length. The process ends when the bot closes its end.
"""

from __future__ import annotations

import pickle
import socket
import sys
from typing import Any

HEADER = 8  # bytes: the length of what follows
RESULT, RAISED = b"\x01", b"\x00"


def _read(connection: socket.socket, size: int) -> bytearray | None:
    """Exactly `size` bytes, or None when the bot closed its end first."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = connection.recv_into(view[got:])
        if count == 0:
            return None
        got += count
    return buffer


def serve(connection: socket.socket) -> None:
    """Answer the bot's requests until it closes the connection."""
    from bot.export.pool import lower_priority

    lower_priority()
    while (header := _read(connection, HEADER)) is not None:
        request = _read(connection, int.from_bytes(header, "little"))
        if request is None:
            return
        function, arguments = pickle.loads(request)
        del request
        outcome: Any
        try:
            outcome, kind = function(*arguments), RESULT
        except Exception as exc:  # the bot raises it in place of the result
            outcome, kind = exc, RAISED
        try:
            answer = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that cannot be pickled: its text at least
            answer = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
            kind = RAISED
        del outcome
        connection.sendall(kind + len(answer).to_bytes(HEADER, "little"))
        connection.sendall(answer)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
