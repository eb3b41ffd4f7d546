"""The bot's settings: read from the environment and an optional `.env` file, checked once.

Every setting is an environment variable (see `ENV_VARS`, `.env.example` and
docs/deployment.md). A value in the environment wins over the same name in the `.env` file; an
empty value counts as unset, so `NAME=` in a `.env` file means "use the default". Values are taken
literally: no `${VAR}` expansion, so a password may contain `$`.

Error messages name the variable and what it accepts but never repeat the token, the webhook
secret or a database password.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import bot
from bot.errors import ConfigError

Language = Literal["fr", "en"]
_T = TypeVar("_T")

#: Every environment variable the bot reads, in the order of `.env.example`.
ENV_VARS: tuple[str, ...] = (
    "TELEGRAM_BOT_TOKEN",
    "DATABASE_URL",
    "TELEGRAM_API_BASE_URL",
    "TELEGRAM_API_BASE_FILE_URL",
    "DEFAULT_LANGUAGE",
    "DEFAULT_TIMEZONE",
    "REMINDER_HOUR",
    "REMINDER_INTERVAL_SECONDS",
    "REMINDER_LEASE_SECONDS",
    "INVITATION_DAYS",
    "LOG_LEVEL",
    "DIALOGUES_DIR",
    "WEBHOOK_ENABLED",
    "WEBHOOK_URL",
    "WEBHOOK_LISTEN",
    "WEBHOOK_PORT",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET",
    "HEALTH_PORT",
    "UPDATES_IN_HAND",
    "RENDER_WORKERS",
    "WEB_ENABLED",
    "WEB_LISTEN",
    "WEB_PORT",
    "WEB_PUBLIC_URL",
)

DEFAULT_DATABASE_URL = "sqlite:///data/alliance-bot.sqlite3"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_API_BASE_FILE_URL = "https://api.telegram.org/file/bot"
DEFAULT_LANGUAGE: Language = "fr"
DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_REMINDER_HOUR = 9
DEFAULT_REMINDER_INTERVAL_SECONDS = 5  # how often due reminders are looked for
DEFAULT_UPDATES_IN_HAND = 32  # polling: updates fetched and not yet handled, at most
DEFAULT_REMINDER_LEASE_SECONDS = 120  # how long a replica holds the reminders it claimed
DEFAULT_INVITATION_DAYS = 14  # how long a partner's invitation link can be used
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_WEBHOOK_LISTEN = "0.0.0.0"  # inside a container the proxy reaches us from outside
DEFAULT_WEBHOOK_PORT = 8443
DEFAULT_WEBHOOK_PATH = "telegram"
DEFAULT_HEALTH_PORT = 8080
DEFAULT_WEB_LISTEN = "127.0.0.1"  # the advisors' web view: behind a reverse proxy in production
DEFAULT_WEB_PORT = 8090

LANGUAGES: tuple[Language, ...] = ("fr", "en")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Telegram accepts webhooks on these public ports only (Bot API, setWebhook).
WEBHOOK_PUBLIC_PORTS = (443, 80, 88, 8443)

_MASK = "***"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
# BotFather tokens look like 123456789:AAH...; the bot id, a colon, then letters/digits/_/-.
_TOKEN_RE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
# setWebhook's secret_token: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_PATH_RE = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")
# The schemes bot.storage.factory.open_storage opens; it checks the rest of the URL itself.
_DATABASE_PREFIXES = ("sqlite://", "postgresql://", "postgres://")

_BOTFATHER_HELP = (
    "TELEGRAM_BOT_TOKEN is not set. To get a token, open Telegram, talk to @BotFather, send "
    "/newbot and follow its questions; it answers with a token like 123456789:AAH... . Put it in "
    "the .env file in the working directory (TELEGRAM_BOT_TOKEN=<your token>, see .env.example) "
    "or in the environment (docker run --env-file .env, or env_file in docker-compose.yml)."
)


def default_dialogues_dir() -> Path:
    """The `dialogues/` folder next to the `bot` package (the source tree's copy)."""
    return Path(bot.__file__).resolve().parent.parent / "dialogues"


@dataclass(frozen=True, repr=False)
class Settings:
    """The checked settings; build it with `load_settings`.

    Constructing it directly skips every check: that is meant for tests only. `repr()` masks the
    token, the webhook secret and the database password.
    """

    telegram_bot_token: str = ""
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    telegram_api_base_file_url: str = DEFAULT_API_BASE_FILE_URL
    default_language: Language = DEFAULT_LANGUAGE
    default_timezone: str = DEFAULT_TIMEZONE
    reminder_hour: int = DEFAULT_REMINDER_HOUR
    reminder_interval_seconds: int = DEFAULT_REMINDER_INTERVAL_SECONDS
    reminder_lease_seconds: int = DEFAULT_REMINDER_LEASE_SECONDS
    invitation_days: int = DEFAULT_INVITATION_DAYS
    log_level: str = DEFAULT_LOG_LEVEL
    dialogues_dir: Path = field(default_factory=default_dialogues_dir)
    webhook_enabled: bool = False
    webhook_url: str = ""
    webhook_listen: str = DEFAULT_WEBHOOK_LISTEN
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    webhook_path: str = DEFAULT_WEBHOOK_PATH
    webhook_secret: str = ""
    health_port: int = DEFAULT_HEALTH_PORT
    updates_in_hand: int = DEFAULT_UPDATES_IN_HAND
    render_workers: int = 0  # 0: the machine's cores but one (bot/export/pool.py)
    web_enabled: bool = False
    web_listen: str = DEFAULT_WEB_LISTEN
    web_port: int = DEFAULT_WEB_PORT
    web_public_url: str = ""

    @property
    def tzinfo(self) -> ZoneInfo:
        """`default_timezone` as a ZoneInfo."""
        return ZoneInfo(self.default_timezone)

    @property
    def web_base_url(self) -> str:
        """Where advisors reach the web view: WEB_PUBLIC_URL (the reverse proxy's address), or
        http://WEB_LISTEN:WEB_PORT."""
        if self.web_public_url:
            return self.web_public_url.rstrip("/")
        host = f"[{self.web_listen}]" if ":" in self.web_listen else self.web_listen
        return f"http://{host}:{self.web_port}"

    @property
    def webhook_endpoint(self) -> str:
        """The full URL Telegram posts updates to: `WEBHOOK_URL/WEBHOOK_PATH`.

        If WEBHOOK_URL already ends with WEBHOOK_PATH it is used as it is, so both spellings of
        the URL work. Empty when WEBHOOK_URL is not set.
        """
        if not self.webhook_url:
            return ""
        base = self.webhook_url.rstrip("/")
        path = urlsplit(base).path.strip("/")
        if path == self.webhook_path or path.endswith("/" + self.webhook_path):
            return base
        return f"{base}/{self.webhook_path}"

    def secrets(self) -> list[str]:
        """The non-empty secret values, for the log redactor.

        The token, the webhook secret and the database password (both as written in the URL and
        percent-decoded, since a driver may log either).
        """
        values = [self.telegram_bot_token, self.webhook_secret]
        password = urlsplit(self.database_url).password
        if password:
            values += [password, unquote(password)]
        return list(dict.fromkeys(v for v in values if v))

    def enable_webhook(self) -> Settings:
        """A copy with webhook mode on (for `alliance-bot run --webhook`).

        Raises:
            ConfigError: WEBHOOK_URL or WEBHOOK_SECRET is not set.
        """
        missing = _missing_webhook_settings(
            url_set=bool(self.webhook_url), secret_set=bool(self.webhook_secret)
        )
        if missing:
            raise ConfigError("Invalid configuration:\n- " + "\n- ".join(missing))
        return dataclasses.replace(self, webhook_enabled=True)

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value: object = getattr(self, f.name)
            if f.name in ("telegram_bot_token", "webhook_secret") and value:
                value = _MASK
            elif f.name == "database_url":
                value = mask_url_password(self.database_url)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def mask_url_password(url: str) -> str:
    """`url` with the password of its `user:password@` part replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:{_MASK}@{hostport}").geturl()


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    env_file: str | Path | None = ".env",
    require_token: bool = True,
) -> Settings:
    """Read and check the settings.

    Args:
        env: the environment; `os.environ` when None. When given, `os.environ` is not read at
            all (tests pass their own mapping).
        env_file: a dotenv file whose values apply where `env` has none; a missing file is
            skipped, None reads no file. A relative path is relative to the working directory.
        require_token: False for commands that never talk to Telegram (chat, validate): the
            token may then be missing, but if present it is still checked.

    Returns:
        The settings, every value checked and normalised.

    Raises:
        ConfigError: a value is missing or invalid. The message lists every problem, one a line,
            each naming the variable and what it accepts.
    """
    values = _merge(os.environ if env is None else env, _read_env_file(env_file))
    problems: list[str] = []

    def get(name: str, default: _T, parse: Callable[[str], _T]) -> _T:
        raw = values.get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            return default

    token = get("TELEGRAM_BOT_TOKEN", "", _parse_token)
    if require_token and "TELEGRAM_BOT_TOKEN" not in values:
        problems.insert(0, _BOTFATHER_HELP)
    webhook_enabled = get("WEBHOOK_ENABLED", False, _parse_bool)
    webhook_url = get("WEBHOOK_URL", "", _parse_webhook_url)
    webhook_secret = get("WEBHOOK_SECRET", "", _parse_secret)
    settings = Settings(
        telegram_bot_token=token,
        database_url=get("DATABASE_URL", DEFAULT_DATABASE_URL, _parse_database_url),
        telegram_api_base_url=get("TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL, _parse_http_url),
        telegram_api_base_file_url=get(
            "TELEGRAM_API_BASE_FILE_URL", DEFAULT_API_BASE_FILE_URL, _parse_http_url
        ),
        default_language=get("DEFAULT_LANGUAGE", DEFAULT_LANGUAGE, _parse_language),
        default_timezone=get("DEFAULT_TIMEZONE", DEFAULT_TIMEZONE, _parse_timezone),
        reminder_hour=get("REMINDER_HOUR", DEFAULT_REMINDER_HOUR, _int_parser(0, 23)),
        reminder_interval_seconds=get(
            "REMINDER_INTERVAL_SECONDS", DEFAULT_REMINDER_INTERVAL_SECONDS, _int_parser(1, 3600)
        ),
        reminder_lease_seconds=get(
            "REMINDER_LEASE_SECONDS", DEFAULT_REMINDER_LEASE_SECONDS, _int_parser(4, 86400)
        ),
        invitation_days=get("INVITATION_DAYS", DEFAULT_INVITATION_DAYS, _int_parser(1, 90)),
        log_level=get("LOG_LEVEL", DEFAULT_LOG_LEVEL, _parse_log_level),
        dialogues_dir=get("DIALOGUES_DIR", default_dialogues_dir(), _parse_directory),
        webhook_enabled=webhook_enabled,
        webhook_url=webhook_url,
        webhook_listen=get("WEBHOOK_LISTEN", DEFAULT_WEBHOOK_LISTEN, _parse_host),
        webhook_port=get("WEBHOOK_PORT", DEFAULT_WEBHOOK_PORT, _int_parser(1, 65535)),
        webhook_path=get("WEBHOOK_PATH", DEFAULT_WEBHOOK_PATH, _parse_path),
        webhook_secret=webhook_secret,
        health_port=get("HEALTH_PORT", DEFAULT_HEALTH_PORT, _int_parser(1, 65535)),
        updates_in_hand=get("UPDATES_IN_HAND", DEFAULT_UPDATES_IN_HAND, _int_parser(1, 1000)),
        render_workers=get("RENDER_WORKERS", 0, _int_parser(0, 64)),
        web_enabled=get("WEB_ENABLED", False, _parse_bool),
        web_listen=get("WEB_LISTEN", DEFAULT_WEB_LISTEN, _parse_host),
        web_port=get("WEB_PORT", DEFAULT_WEB_PORT, _int_parser(1, 65535)),
        web_public_url=get("WEB_PUBLIC_URL", "", _parse_http_url),
    )
    if webhook_enabled:
        # Only report absence here: a present but invalid value was reported above.
        problems += _missing_webhook_settings(
            url_set="WEBHOOK_URL" in values, secret_set="WEBHOOK_SECRET" in values
        )
    if "DIALOGUES_DIR" not in values and not settings.dialogues_dir.is_dir():
        problems.append(
            f"DIALOGUES_DIR: the default {settings.dialogues_dir} is not a directory; set "
            "DIALOGUES_DIR to the folder holding the dialogue files (/app/dialogues in the image)"
        )
    if problems:
        raise ConfigError("Invalid configuration:\n- " + "\n- ".join(problems))
    return settings


def _merge(env: Mapping[str, str], file_values: Mapping[str, str]) -> dict[str, str]:
    """Our variables, environment first, empty values dropped, surrounding blanks stripped."""
    merged: dict[str, str] = {}
    for name in ENV_VARS:
        for source in (env, file_values):
            value = (source.get(name) or "").strip()
            if value:
                merged[name] = value
                break
    return merged


def _read_env_file(env_file: str | Path | None) -> dict[str, str]:
    if env_file is None:
        return {}
    path = Path(env_file)
    if not path.exists():
        return {}
    if not path.is_file():
        raise ConfigError(f"Invalid configuration: the env file {path} is not a file")
    import dotenv  # only when there is a file to read: a container passes its environment

    try:
        raw = dotenv.dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Invalid configuration: cannot read the env file {path}: {exc}"
        ) from exc
    return {name: value for name, value in raw.items() if value is not None}


def _missing_webhook_settings(*, url_set: bool, secret_set: bool) -> list[str]:
    """One line per setting webhook mode needs but does not have."""
    missing = []
    if not url_set:
        missing.append(
            "WEBHOOK_URL: required when the webhook is enabled; the public https URL Telegram "
            "posts to, e.g. https://bot.example.com"
        )
    if not secret_set:
        missing.append(
            "WEBHOOK_SECRET: required when the webhook is enabled; 1-256 characters among "
            "A-Z a-z 0-9 _ -, e.g. the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return missing


# Parsers: each takes a stripped, non-empty string and raises ValueError with what is accepted.
# Messages must not contain the value for the token and the secret.


def _parse_token(value: str) -> str:
    if _TOKEN_RE.fullmatch(value):
        return value
    hint = ""
    if value.lower().startswith("bot") and _TOKEN_RE.fullmatch(value[3:]):
        hint = " (drop the leading 'bot': it belongs to the URL, not to the token)"
    elif value[:1] in "\"'":
        hint = " (remove the quotes)"
    raise ValueError(
        "not a bot token; expected the bot id, a colon, then letters, digits, _ or - "
        f"as @BotFather gives it (123456789:AAH...){hint}"
    )


def _parse_secret(value: str) -> str:
    if _SECRET_RE.fullmatch(value):
        return value
    problem = f"{len(value)} characters" if len(value) > 256 else "a character outside that set"
    raise ValueError(
        f"expected 1-256 characters among A-Z a-z 0-9 _ - (as Telegram requires), got {problem}"
    )


def _parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false (also 1/0, yes/no, on/off), got {value!r}")


def _int_parser(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(
                f"expected a whole number from {low} to {high}, got {value!r}"
            ) from None
        if not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {number}")
        return number

    return parse


def _parse_language(value: str) -> Language:
    lowered = value.lower()
    if lowered in LANGUAGES:
        return lowered
    raise ValueError(f"expected one of {', '.join(LANGUAGES)}, got {value!r}")


def _parse_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone name such as Europe/Paris or America/Montreal, "
            f"got {value!r}"
        ) from None
    return value


def _parse_log_level(value: str) -> str:
    upper = value.upper()
    if upper == "WARN":
        upper = "WARNING"
    if upper in LOG_LEVELS:
        return upper
    raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")


def _parse_directory(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ValueError(f"expected the folder holding the dialogue files; {path} is not one")
    return path


def _parse_database_url(value: str) -> str:
    # A value without "://" is a plain SQLite file path, which the storage factory accepts.
    if value.startswith(_DATABASE_PREFIXES) or "://" not in value:
        return value
    raise ValueError(
        "expected sqlite:///relative/path.sqlite3, sqlite:////absolute/path.sqlite3, a file "
        "path, or postgresql://user:password@host:5432/database, got "
        f"{mask_url_password(value)!r}"
    )


def _parse_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return value
    raise ValueError(
        f"expected an http:// or https:// URL such as {DEFAULT_API_BASE_URL}, got {value!r}"
    )


def _parse_webhook_url(value: str) -> str:
    accepted = "expected a public https:// URL such as https://bot.example.com"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{accepted}, got {value!r}") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{accepted}, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{accepted} without ?query or #fragment, got {value!r}")
    if port is not None and port not in WEBHOOK_PUBLIC_PORTS:
        ports = ", ".join(map(str, WEBHOOK_PUBLIC_PORTS))
        raise ValueError(f"Telegram only posts to ports {ports}; got port {port}")
    return value


def _parse_host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME_RE.fullmatch(value):
            raise ValueError(
                f"expected an address to listen on such as 0.0.0.0, :: or localhost, got {value!r}"
            ) from None
    return value


def _parse_path(value: str) -> str:
    path = value.strip("/")
    if _PATH_RE.fullmatch(path):
        return path
    raise ValueError(
        f"expected a URL path such as telegram (letters, digits, . _ ~ - and /), got {value!r}"
    )
