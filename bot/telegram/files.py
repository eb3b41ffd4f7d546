"""Files sent as documents (reports, calendars, data), each with the type its name says.

python-telegram-bot would find a file's type from its name through Python's `mimetypes`, which
on first use reads the host's whole MIME database (/etc/mime.types: about 1,200 types, some
0.35 MiB kept in the bot's memory for good) and gives what that host says, or nothing where
the file is missing (a slim container). The bot sends four kinds of file: their types are
here.
"""

from __future__ import annotations

from pathlib import PurePath

from telegram import InputFile

#: The type of each kind of file the bot sends, by its name's extension.
FILE_TYPES = {
    ".pdf": "application/pdf",
    ".md": "text/markdown",
    ".json": "application/json",
    ".ics": "text/calendar",
}
OTHER = "application/octet-stream"


def named_file(data: bytes, filename: str) -> InputFile:
    """`data` as a document named `filename`, of the type its extension says (FILE_TYPES)."""
    document = InputFile(data)  # no name given: PTB looks no type up
    document.filename = filename
    document.mimetype = FILE_TYPES.get(PurePath(filename).suffix.lower(), OTHER)
    return document
