"""Process-wide logging: concise lines on stderr, with every secret redacted before it is written.

The bot token travels in every Bot API URL (https://api.telegram.org/bot<token>/getMe), and httpx,
httpcore and python-telegram-bot log those URLs, exception messages included. Each record is
therefore rewritten (message, arguments, traceback, stack) as it is created, by a log record
factory (`redact_records`), before any logger filter or handler sees it, whoever installed that
handler; the filter on our root handler does the same again, for records made some other way.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from bot.errors import ConfigError

REDACTED = "<redacted>"
#: Loggers that write full request URLs (hence the token) at INFO and DEBUG.
# httpx and httpcore log full URLs (with the token) at DEBUG; transitions logs two INFO lines for
# every trigger (about 3 % of an update's CPU, BENCHMARKS.md).
NOISY_LOGGERS = ("httpx", "httpcore", "transitions")
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

_HANDLER_NAME = "alliance-bot"
# A token in a Bot API URL path (/bot<token>/getMe, /file/bot<token>/...), even one we were not
# told about: Telegram tokens are the bot id, a colon (maybe percent-encoded), then [A-Za-z0-9_-].
_URL_TOKEN_RE = re.compile(r"(/bot)[0-9]+(?::|%3[Aa])[A-Za-z0-9_-]+")
# A web view login link (/login/<token>): its token opens a session until it is used.
_LOGIN_LINK_RE = re.compile(r"(/login/)[A-Za-z0-9_-]{16,}")
# A bare token-shaped string anywhere (say, another bot's token pasted into a message).
_BARE_TOKEN_RE = re.compile(r"\b[0-9]{5,}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# A partner's invitation token: in its link (?start=...), in the /start message that opens it,
# in the consent buttons' callback data (k|yes|..., bot/telegram/callbacks.py).
_INVITATION_RE = re.compile(r"(start=|/start |\bk\|(?:yes|no)\|)[A-Za-z0-9_-]{16,}")


class _UTCFormatter(logging.Formatter):
    """Times in UTC, so that lines from several replicas and the database logs line up."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or DATE_FORMAT, time.gmtime(record.created))


@functools.lru_cache(maxsize=16)
def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    variants = {v for s in secrets if s for v in (s, quote(s, safe=""))}
    if not variants:
        return None
    # Longest first, so a secret that contains another is replaced whole.
    ordered = sorted(variants, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret, any bot token in a Bot API URL and any invitation token in its
    link, /start message or consent button, replaced by `<redacted>`.

    Secrets are also matched percent-encoded (as they appear in a URL). Token-shaped strings and
    the token of a web login link (/login/<token>) are redacted even if they are not among
    `secrets`.
    """
    pattern = _secrets_pattern(tuple(secrets))
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _URL_TOKEN_RE.sub(r"\1" + REDACTED, text)
    text = _INVITATION_RE.sub(r"\1" + REDACTED, text)
    text = _LOGIN_LINK_RE.sub(r"\1" + REDACTED, text)
    return _BARE_TOKEN_RE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites every record in place so that no secret reaches any handler after this one.

    The message is formatted with its arguments and then redacted (arguments are dropped), and an
    exception is formatted into `exc_text` and redacted (`exc_info` is dropped, so no later
    formatter can print the raw exception again). The record is never rejected.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)
        self._exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # logging would print msg and args raw in its "--- Logging error ---" report.
            message = f"{record.msg} (log arguments did not fit the message: {record.args!r})"
        record.msg = redact(message, self.secrets)
        record.args = ()
        if getattr(record, "message", None):
            record.message = record.msg
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._exception_formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class _RedactingRecordFactory:
    """A log record factory that redacts each record it makes (see `redact_records`)."""

    def __init__(self, base: Callable[..., logging.LogRecord], secrets: Sequence[str]) -> None:
        self.base = base
        self.redactor = RedactingFilter(secrets)

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        self.redactor.filter(record)
        return record


def redact_records(secrets: Sequence[str]) -> None:
    """Redact every log record of the process as it is created, `secrets` and bot tokens.

    A handler filter only protects the handler it is on: a handler added to a library's logger,
    or before ours, would see raw records. Calling it again replaces the secrets.
    """
    current = logging.getLogRecordFactory()
    base = current.base if isinstance(current, _RedactingRecordFactory) else current
    logging.setLogRecordFactory(_RedactingRecordFactory(base, secrets))


def configure_logging(level: str, secrets: Sequence[str]) -> None:
    """Send all logging to stderr, one concise line a record, with `secrets` redacted.

    Every record is redacted when it is created (`redact_records`), whatever handler sees it.

    Calling it again replaces the handler it installed (and its secrets); handlers installed by
    others are kept, after ours, so they too receive redacted records. httpx and httpcore are set
    to WARNING (or `level` if higher); if someone lowers them later, their records are still
    redacted.

    Args:
        level: DEBUG, INFO, WARNING (or WARN), ERROR or CRITICAL, in any case.
        secrets: values never to write, e.g. `Settings.secrets()`; empty strings are ignored.

    Raises:
        ConfigError: `level` is not a level name.
    """
    numeric = _level_number(level)
    redact_records(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_UTCFormatter(LOG_FORMAT, DATE_FORMAT))
    handler.addFilter(RedactingFilter(secrets))

    root = logging.getLogger()
    others = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    for old in list(root.handlers):
        root.removeHandler(old)
        if old.get_name() == _HANDLER_NAME:
            old.close()
    # Ours first: the filter rewrites records in place, which then protects the others too.
    for kept in [handler, *others]:
        root.addHandler(kept)
    root.setLevel(numeric)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric))


def _level_number(level: str) -> int:
    name = level.strip().upper()
    if name == "WARN":
        name = "WARNING"
    number = logging.getLevelNamesMapping().get(name)
    if number is None or name == "NOTSET":
        raise ConfigError(
            f"LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}"
        )
    return number
