"""Files sent as documents (reports, calendars, data), each with the type its name says.

python-telegram-bot would find a file's type from its name through Python's `mimetypes`, which
on first use reads the host's whole MIME database (/etc/mime.types: about 1,200 types, some
0.35 MiB kept in the bot's memory for good) and gives what that host says, or nothing where
the file is missing (a slim container). The bot sends the exports' four kinds of file, whose
types bot/export knows.
"""

from __future__ import annotations

from pathlib import PurePath

from telegram import InputFile

from bot.export import MIME_TYPES

OTHER = "application/octet-stream"


def named_file(data: bytes, filename: str) -> InputFile:
    """`data` as a document named `filename`, of the type its extension says (the exports'
    MIME_TYPES, without their charset)."""
    document = InputFile(data)  # no name given: PTB looks no type up
    document.filename = filename
    mime = MIME_TYPES.get(PurePath(filename).suffix.lower().lstrip("."), OTHER)
    document.mimetype = mime.partition(";")[0]
    return document
