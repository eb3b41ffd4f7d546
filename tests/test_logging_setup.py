"""bot.logging_setup: no secret reaches the log output, whatever the logger or the level."""

import importlib.util
import logging

import httpx
import pytest

from bot.errors import ConfigError
from bot.logging_setup import REDACTED, RedactingFilter, configure_logging, redact

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
TOKEN_TAIL = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SECRET = "webhook_Secret-42"
URL = f"https://api.telegram.org/bot{TOKEN}/getMe"


@pytest.fixture(autouse=True)
def restore_logging():
    """configure_logging changes process-wide state: put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def assert_clean(text: str) -> None:
    assert TOKEN not in text
    assert TOKEN_TAIL not in text
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0".replace(":", "%3A") not in text
    assert SECRET not in text


class ReportingError(Exception):
    pass


def load_leaky_module(tmp_path):
    """A module whose source line holds the token, so that tracebacks quote it."""
    path = tmp_path / "leaky.py"
    path.write_text(
        f'def call():\n    raise ConnectionError("cannot reach {URL}")\n', encoding="utf-8"
    )
    spec = importlib.util.spec_from_file_location("leaky", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nothing_secret_in_output_at_debug(capsys, tmp_path):
    configure_logging("DEBUG", [TOKEN, SECRET])
    log = logging.getLogger("bot.test")

    log.debug("calling %s with secret %s", URL, SECRET)
    log.info("token in message: " + TOKEN)  # noqa: G003 - a pre-formatted message, on purpose
    log.info("token in a dict argument: %s", {"url": URL, "headers": {"X-Secret": SECRET}})
    leaky = load_leaky_module(tmp_path)
    try:
        try:
            leaky.call()
        except ConnectionError as cause:
            raise ReportingError(f"wrapped: {URL}") from cause
    except ReportingError:
        log.exception("request failed for %s", URL)
    log.warning("with stack, secret %s", SECRET, stack_info=True)
    log.info("%d is not a number", TOKEN)  # a broken call must not print its raw arguments

    # httpx writes the full URL at INFO; lower it to DEBUG as someone debugging would.
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    logging.getLogger("httpcore").setLevel(logging.DEBUG)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    with httpx.Client(transport=transport) as client:
        client.get(URL, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    logging.getLogger("httpcore.http11").debug("send_request_headers %s", URL)

    err = capsys.readouterr().err
    assert_clean(err)
    assert "Logging error" not in err
    assert f"https://api.telegram.org/bot{REDACTED}/getMe" in err
    assert "HTTP Request: GET https://api.telegram.org/bot<redacted>/getMe" in err
    assert "Traceback (most recent call last)" in err
    # The quoted source line and the exception message, both redacted.
    assert (
        f'raise ConnectionError("cannot reach https://api.telegram.org/bot{REDACTED}/getMe")'
        in err
    )
    assert f"ConnectionError: cannot reach https://api.telegram.org/bot{REDACTED}/getMe" in err
    assert "direct cause of the following exception" in err
    assert f"ReportingError: wrapped: https://api.telegram.org/bot{REDACTED}/getMe" in err
    assert "Stack (most recent call last)" in err
    assert "is not a number" in err
    assert " DEBUG bot.test: calling " in err
    assert " DEBUG httpcore.http11: send_request_headers " in err


def test_line_format(capsys):
    configure_logging("INFO", [])
    logging.getLogger("bot.app").info("started in %s mode", "polling")
    line = capsys.readouterr().err.strip()
    stamp, level, name, message = line.split(" ", 3)
    assert stamp.endswith("Z")
    assert "T" in stamp
    assert (level, name, message) == ("INFO", "bot.app:", "started in polling mode")


def test_level_applies(capsys):
    configure_logging("warning", [])
    logging.getLogger("bot.x").info("hidden")
    logging.getLogger("bot.x").warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert "shown" in err


def test_noisy_loggers_default_to_warning(capsys):
    configure_logging("DEBUG", [TOKEN])
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=transport) as client:
        client.get(URL)
    assert "HTTP Request" not in capsys.readouterr().err
    configure_logging("ERROR", [TOKEN])
    assert logging.getLogger("httpx").level == logging.ERROR


def test_reconfiguring_replaces_our_handler_and_secrets(capsys):
    configure_logging("INFO", ["first-secret"])
    configure_logging("INFO", [TOKEN])
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "alliance-bot"]
    assert len(ours) == 1
    logging.getLogger("bot.x").info("first-secret then %s", TOKEN)
    err = capsys.readouterr().err
    assert err.count("first-secret then") == 1
    assert_clean(err)


def test_other_handlers_receive_redacted_records(capsys):
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    collector = Collect()
    logging.getLogger().addHandler(collector)  # installed before configure_logging
    configure_logging("INFO", [SECRET])
    try:
        raise RuntimeError(SECRET)
    except RuntimeError:
        logging.getLogger("bot.x").exception("boom %s", SECRET)
    capsys.readouterr()
    assert seen
    for text in seen:
        assert SECRET not in text
        assert "RuntimeError: <redacted>" in text


def test_invalid_level():
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        configure_logging("chatty", [])
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        configure_logging("NOTSET", [])


def test_filter_never_drops_and_empty_secrets_are_ignored():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s b", ("c",), None)
    assert RedactingFilter(["", ""]).filter(record) is True
    assert record.getMessage() == "a c b"


# redact()


def test_redact_known_secrets():
    assert redact(f"a {SECRET} b {SECRET}", [SECRET]) == f"a {REDACTED} b {REDACTED}"


def test_redact_longest_secret_first():
    assert redact("abc-def", ["abc", "abc-def"]) == REDACTED


def test_redact_percent_encoded_secret():
    assert redact("p%40ss and p@ss", ["p@ss"]) == f"{REDACTED} and {REDACTED}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (URL, f"https://api.telegram.org/bot{REDACTED}/getMe"),
        (
            "http://127.0.0.1:8081/file/bot42:TEST_token/documents/file_1.pdf",
            f"http://127.0.0.1:8081/file/bot{REDACTED}/documents/file_1.pdf",
        ),
        ("/bot42%3ATEST/sendMessage", f"/bot{REDACTED}/sendMessage"),
        (f"pasted {TOKEN} here", f"pasted {REDACTED} here"),
        ("meeting at 12:30, /bottom/line", "meeting at 12:30, /bottom/line"),
    ],
)
def test_redact_unknown_tokens(text, expected):
    assert redact(text, []) == expected


def test_redact_empty_secret_changes_nothing():
    assert redact("hello", [""]) == "hello"
