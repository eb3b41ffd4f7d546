"""Suite-wide reliability guards (a pytest plugin, loaded from tests/conftest.py).

Telegram's limits during the whole suite: the Bot API emulator answers 400 to any
payload over Telegram's limits (text, caption, buttons, callback data, HTML). After every test
that uses the ``emulator`` fixture, every 4xx answer the bot received must have been declared:

* faults the test injected (``emulator.fail_next``: counted per method and status, ``"*"``
  matching any method), 403s aimed at a chat the test blocked (``emulator.block_user``), and
  429s once the test turned the emulator's rate limits on;
* patterns the test declared, searched in ``"<method> <status> <description>"``: the marker
  ``@pytest.mark.expected_api_errors("editMessageText 400 .*not modified")`` or, at run time,
  ``emulator.expected_errors.append(pattern)``.

Anything else (a text over 4,096 characters, bad HTML, a 404 for a method the emulator lacks,
...) fails the test in its teardown, with the offending calls listed.

Secrets never logged: the whole run logs at DEBUG (the root, httpx and httpcore set
before every test; telegram, aiohttp, asyncio, bot... inherit it), with the bot's production
redaction (``bot.logging_setup.redact_records``, what ``configure_logging`` installs) on.
Every record any logger hands to its handlers is captured by wrapping
``logging.Logger.callHandlers``, so before any handler or handler filter runs: the redaction
of our stderr handler is NOT relied upon. Its message, traceback (``exc_info`` formatted if
still there) and stack are searched for the suite's secrets (and their percent-encoded
forms). The Bot API calls of every test using the ``emulator`` fixture are searched too
(texts, captions, buttons, uploaded files: replies and exports). A leak fails the test that
produced it, and the session at the end.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from bot.logging_setup import redact_records
from tests.support.emulator import BotApiEmulator, Call
from tests.telegram_fixtures import TOKEN

#: tests/test_webhook.py's SECRET (test_reliability_security checks they agree).
WEBHOOK_SECRET = "s3cret-Webhook_token"
#: What Settings.secrets() gives the redactor for the suite's bot: the token and the secret.
APP_SECRETS = (TOKEN, WEBHOOK_SECRET)
#: Searched for in every log record and every Bot API call: the app's secrets, the token's
#: secret part on its own, and their percent-encoded forms.
SUITE_SECRETS = tuple(
    dict.fromkeys(
        variant
        for secret in (*APP_SECRETS, TOKEN.split(":", 1)[1])
        for variant in (secret, quote(secret, safe=""))
    )
)
#: Loggers set to DEBUG before every test, with the root: configure_logging quiets these two.
DEBUG_LOGGERS = ("httpx", "httpcore")
#: Loggers that inherit the root's DEBUG (their level is reset before every test).
INHERITING_LOGGERS = ("telegram", "aiohttp", "asyncio", "bot")
#: Answers that say nothing about the bot's payloads, expected in every test:
ALWAYS_EXPECTED = (
    # A getUpdates cut short by the next one (PTB's last getUpdates on stop confirms the offset).
    r"^getUpdates 409 Conflict: terminated by other getUpdates request",
)
MARKER = "expected_api_errors"
#: Tests in others' files that provoke a 4xx on purpose (new tests use the marker instead).
DISPATCHER_TESTS = "tests/test_reminders_dispatcher.py::"
DECLARED_ELSEWHERE = {
    DISPATCHER_TESTS + "test_a_chat_not_found_counts_as_unreachable": (
        r"^sendMessage 400 Bad Request: chat not found$",
    ),
    DISPATCHER_TESTS + "test_a_bad_request_is_marked_failed_without_a_retry_loop": (
        r"^sendMessage 400 Bad Request: message is too long$",
    ),
}


# API errors ------------------------------------------------------------------------------
@dataclass
class ApiErrorGuard:
    """Remembers what a test declared about one emulator, then finds the undeclared 4xx."""

    emulator: BotApiEmulator
    patterns: list[str] = field(default_factory=lambda: list(ALWAYS_EXPECTED))
    injected: Counter[tuple[str, int]] = field(default_factory=Counter)
    blocked: set[int] = field(default_factory=set)
    rate_limited: bool = False

    def install(self) -> None:
        """Wrap the emulator's fault methods (on this instance only) to record them."""
        emu = self.emulator
        fail_next, block_user = emu.fail_next, emu.block_user
        enforce = emu.enforce_rate_limits

        def recording_fail_next(method: str, status: int, *args: Any, **kwargs: Any) -> None:
            count = kwargs.get("count", args[1] if len(args) > 1 else 1)
            self.injected[(method, status)] += count
            fail_next(method, status, *args, **kwargs)

        def recording_block_user(chat_id: int) -> None:
            self.blocked.add(chat_id)
            block_user(chat_id)

        def recording_enforce(*args: Any, **kwargs: Any) -> None:
            self.rate_limited = True
            enforce(*args, **kwargs)

        emu.fail_next = recording_fail_next  # type: ignore[method-assign]
        emu.block_user = recording_block_user  # type: ignore[method-assign]
        emu.enforce_rate_limits = recording_enforce  # type: ignore[method-assign]
        emu.expected_errors = self.patterns  # type: ignore[attr-defined]

    def unexpected(self) -> list[Call]:
        """The 4xx answers nobody declared, in call order."""
        budget = Counter(self.injected)
        found = []
        for call in self.emulator.calls:
            if not 400 <= call.status < 500:
                continue
            if self._injected(call, budget):
                continue
            if call.status == 403 and call.chat_id in self.blocked:
                continue
            if call.status == 429 and self.rate_limited:
                continue
            line = describe(call)
            if any(re.search(pattern, line) for pattern in self.patterns):
                continue
            found.append(call)
        return found

    @staticmethod
    def _injected(call: Call, budget: Counter[tuple[str, int]]) -> bool:
        keys = [(call.method, call.status)]
        if call.method != "getUpdates":
            keys.append(("*", call.status))
        for key in keys:
            if budget[key] > 0:
                budget[key] -= 1
                return True
        return False


def describe(call: Call) -> str:
    """``"<method> <status> <description>"``, what declared patterns are searched in."""
    return f"{call.method} {call.status} {call.description or ''}"


# Secrets in logs and payloads ----------------------------------------------------------
@dataclass
class Leak:
    where: str  # the test's node id, or "(outside any test)"
    what: str  # "log record <logger>" or "Bot API <method>"
    excerpt: str


class LogCapture:
    """Sees every record any logger hands to its handlers (``Logger.callHandlers``)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self.records = 0
        self.by_logger: Counter[str] = Counter()
        self.leaks: list[Leak] = []
        self.current = "(outside any test)"
        self._formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        self._original: Any = None

    def install(self) -> None:
        if self._original is not None:
            return
        original = logging.Logger.callHandlers
        capture = self

        def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
            capture.see(record)
            original(logger, record)

        self._original = original
        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            logging.Logger.callHandlers = self._original  # type: ignore[method-assign]
            self._original = None

    def see(self, record: logging.LogRecord) -> None:
        self.records += 1
        self.by_logger[record.name.split(".")[0]] += 1
        text = self.raw_text(record)
        for secret in self.secrets:
            if secret in text:
                at = text.index(secret)
                excerpt = text[max(0, at - 80) : at + len(secret) + 40]
                self.leaks.append(Leak(self.current, f"log record {record.name}", excerpt))
                break

    def raw_text(self, record: logging.LogRecord) -> str:
        """Everything a handler could write: message, arguments, traceback, stack."""
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!r} {record.args!r}"
        parts = [message]
        if record.exc_info:
            parts.append(self._formatter.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        return "\n".join(parts)


def payload_leaks(emulator: BotApiEmulator, secrets: tuple[str, ...], where: str) -> list[Leak]:
    """Secrets in what the bot sent: every parameter (texts, captions, buttons) and upload."""
    leaks = []
    for call in emulator.calls:
        texts = list(_strings(call.params))
        texts += [u.data.decode("utf-8", "replace") for u in call.uploads.values()]
        texts += [u.filename or "" for u in call.uploads.values()]
        for text in texts:
            hit = next((s for s in secrets if s in text), None)
            if hit is not None:
                at = text.index(hit)
                excerpt = text[max(0, at - 60) : at + len(hit) + 20]
                leaks.append(Leak(where, f"Bot API {call.method}", excerpt))
    return leaks


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def debug_everywhere() -> None:
    """The whole run logs at DEBUG, library loggers included, with the app's redaction on."""
    redact_records(APP_SECRETS)
    logging.getLogger().setLevel(logging.DEBUG)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    for name in INHERITING_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


CAPTURE = LogCapture(SUITE_SECRETS)
#: What the guards checked during the run, for the terminal summary.
STATS: Counter[str] = Counter()


# Plugin hooks and fixtures ------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*patterns): Bot API 4xx answers this test expects (regular expressions "
        "searched in '<method> <status> <description>'); see tests/limits_fixtures.py",
    )
    CAPTURE.install()
    debug_everywhere()
    # pytest's own capture (failure reports, caplog) keeps WARNING and above, as it did before
    # the whole run logged at DEBUG: formatting every DEBUG record for reports costs time.
    if config.getoption("log_level") is None and config.getini("log_level") is None:
        config.option.log_level = "WARNING"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without an explicit -m, leave out the slow tests of tests/test_reliability_*.py (make
    test-long runs them), as tests/faults/conftest.py does for its package."""
    if config.getoption("markexpr"):
        return
    kept: list[pytest.Item] = []
    slow: list[pytest.Item] = []
    for item in items:
        mine = item.path.name.startswith("test_reliability_")
        (slow if mine and item.get_closest_marker("slow") else kept).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"reliability guards: {STATS['tests']} tests with the emulator, {STATS['calls']} Bot API "
        f"calls checked, {STATS['declared']} declared 4xx; {CAPTURE.records} log records "
        f"searched, {len(CAPTURE.leaks)} secret leaks"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    CAPTURE.uninstall()
    if not CAPTURE.leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "secrets leaked (tests/limits_fixtures.py)", red=True)
        for leak in CAPTURE.leaks[:50]:
            reporter.write_line(f"{leak.where}: {leak.what}: ...{leak.excerpt}...")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def reliability_guards(request: pytest.FixtureRequest) -> Iterator[None]:
    """Before each test: DEBUG everywhere. After: no secret logged or sent, no undeclared 4xx."""
    debug_everywhere()
    CAPTURE.current = request.node.nodeid
    leaks_before = len(CAPTURE.leaks)
    guard = None
    if "emulator" in request.fixturenames:
        emulator = request.getfixturevalue("emulator")
        guard = ApiErrorGuard(emulator)
        marker = request.node.get_closest_marker(MARKER)
        if marker is not None:
            guard.patterns.extend(marker.args)
        guard.patterns.extend(DECLARED_ELSEWHERE.get(request.node.nodeid.split("[")[0], ()))
        guard.install()
    yield
    if guard is not None:
        CAPTURE.leaks += payload_leaks(guard.emulator, SUITE_SECRETS, request.node.nodeid)
    CAPTURE.current = "(outside any test)"
    debug_everywhere()  # a test may have reconfigured logging with other secrets
    problems = [f"{leak.what}: ...{leak.excerpt}..." for leak in CAPTURE.leaks[leaks_before:]]
    if problems:
        pytest.fail("a secret left the process:\n" + "\n".join(problems), pytrace=False)
    if guard is not None:
        STATS["tests"] += 1
        STATS["calls"] += len(guard.emulator.calls)
        STATS["declared"] += len([c for c in guard.emulator.calls if 400 <= c.status < 500])
        calls = guard.unexpected()
        STATS["declared"] -= len(calls)
        if calls:
            lines = "\n".join(f"  #{c.seq} {describe(c)} params={_short(c)}" for c in calls)
            pytest.fail(
                f"the bot got {len(calls)} Bot API error(s) this test did not declare "
                f"(see tests/limits_fixtures.py):\n{lines}",
                pytrace=False,
            )


def _short(call: Call) -> str:
    text = repr({k: v for k, v in call.params.items() if k != "reply_markup"})
    return text if len(text) <= 300 else text[:300] + "..."
