"""bot.config: defaults, sources and their precedence, validation, and secret masking."""

import dataclasses
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import bot
from bot import config
from bot.config import ENV_VARS, Settings, load_settings
from bot.errors import ConfigError

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SECRET = "s3cr3t_Webhook-value"


@pytest.fixture
def base(tmp_path):
    """The smallest valid environment; DIALOGUES_DIR set so no test depends on the source tree."""
    dialogues = tmp_path / "dialogues"
    dialogues.mkdir()
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "DIALOGUES_DIR": str(dialogues)}


def load(env, **kwargs):
    kwargs.setdefault("env_file", None)
    return load_settings(env, **kwargs)


def error_of(env, **kwargs) -> str:
    with pytest.raises(ConfigError) as exc:
        load(env, **kwargs)
    return str(exc.value)


def test_env_vars_match_settings_fields():
    assert len(set(ENV_VARS)) == len(ENV_VARS)
    assert {f.name.upper() for f in dataclasses.fields(Settings)} == set(ENV_VARS)


def test_defaults(base):
    s = load(base)
    assert s.telegram_bot_token == TOKEN
    assert s.database_url == "sqlite:///data/alliance-bot.sqlite3"
    assert s.telegram_api_base_url == "https://api.telegram.org/bot"
    assert s.telegram_api_base_file_url == "https://api.telegram.org/file/bot"
    assert s.default_language == "fr"
    assert s.default_timezone == "Europe/Paris"
    assert s.tzinfo == ZoneInfo("Europe/Paris")
    assert s.reminder_hour == 9
    assert s.log_level == "INFO"
    assert s.webhook_enabled is False
    assert s.webhook_url == ""
    assert s.webhook_listen == "0.0.0.0"
    assert s.webhook_port == 8443
    assert s.webhook_path == "telegram"
    assert s.webhook_secret == ""
    assert s.health_port == 8080
    assert s.render_workers == 0  # as many as the machine's cores but one
    assert s.secrets() == [TOKEN]


def test_settings_constructor_defaults_match_loader(base):
    loaded = load(base)
    built = Settings(telegram_bot_token=TOKEN, dialogues_dir=loaded.dialogues_dir)
    assert built == loaded


def test_default_dialogues_dir_is_next_to_the_package(base):
    del base["DIALOGUES_DIR"]
    expected = Path(bot.__file__).resolve().parent.parent / "dialogues"
    assert config.default_dialogues_dir() == expected
    if expected.is_dir():
        assert load(base).dialogues_dir == expected


def test_missing_default_dialogues_dir_is_reported(base, tmp_path, monkeypatch):
    del base["DIALOGUES_DIR"]
    monkeypatch.setattr(config, "default_dialogues_dir", lambda: tmp_path / "nowhere")
    message = error_of(base)
    assert "DIALOGUES_DIR" in message
    assert "/app/dialogues" in message


def test_every_value_read(base, tmp_path):
    env = {
        **base,
        "DATABASE_URL": "postgresql://alliance:pw@db:5432/alliance",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
        "TELEGRAM_API_BASE_FILE_URL": "http://127.0.0.1:8081/file/bot",
        "DEFAULT_LANGUAGE": "EN",
        "DEFAULT_TIMEZONE": "America/Montreal",
        "REMINDER_HOUR": "17",
        "LOG_LEVEL": "warn",
        "WEBHOOK_ENABLED": "yes",
        "WEBHOOK_URL": "https://bot.example.com:8443",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": "9000",
        "WEBHOOK_PATH": "/hooks/alliance/",
        "WEBHOOK_SECRET": SECRET,
        "HEALTH_PORT": "9090",
        "RENDER_WORKERS": "3",
    }
    s = load(env)
    assert s.database_url == "postgresql://alliance:pw@db:5432/alliance"
    assert s.telegram_api_base_url == "http://127.0.0.1:8081/bot"
    assert s.telegram_api_base_file_url == "http://127.0.0.1:8081/file/bot"
    assert s.default_language == "en"
    assert s.default_timezone == "America/Montreal"
    assert s.reminder_hour == 17
    assert s.log_level == "WARNING"
    assert s.dialogues_dir == Path(base["DIALOGUES_DIR"])
    assert s.webhook_enabled is True
    assert s.webhook_url == "https://bot.example.com:8443"
    assert s.webhook_listen == "127.0.0.1"
    assert s.webhook_port == 9000
    assert s.webhook_path == "hooks/alliance"
    assert s.webhook_secret == SECRET
    assert s.health_port == 9090
    assert s.render_workers == 3
    assert s.webhook_endpoint == "https://bot.example.com:8443/hooks/alliance"
    assert s.secrets() == [TOKEN, SECRET, "pw"]


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://bot.example.com", "https://bot.example.com/telegram"),
        ("https://bot.example.com/", "https://bot.example.com/telegram"),
        ("https://bot.example.com/telegram", "https://bot.example.com/telegram"),
        ("https://example.com/alliance/telegram/", "https://example.com/alliance/telegram"),
        ("https://example.com/mytelegram", "https://example.com/mytelegram/telegram"),
    ],
)
def test_webhook_endpoint(url, endpoint):
    assert Settings(webhook_url=url).webhook_endpoint == endpoint


# Sources and precedence


def test_env_wins_over_file_and_file_fills_gaps(base, tmp_path):
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        "REMINDER_HOUR=7\nDEFAULT_LANGUAGE=en\nLOG_LEVEL=DEBUG\nHEALTH_PORT=\n"
        "WEBHOOK_SECRET='quoted$NOT_EXPANDED'\n",
        encoding="utf-8",
    )
    env = {**base, "REMINDER_HOUR": "20", "LOG_LEVEL": ""}
    with pytest.raises(ConfigError) as exc:
        load(env, env_file=env_file)
    # `$` is not allowed in a secret, and the value is taken literally (no expansion).
    assert "WEBHOOK_SECRET" in str(exc.value)
    assert "NOT_EXPANDED" not in str(exc.value)

    env_file.write_text(
        "REMINDER_HOUR=7\nDEFAULT_LANGUAGE=en\nLOG_LEVEL=DEBUG\nHEALTH_PORT=\n", encoding="utf-8"
    )
    s = load(env, env_file=env_file)
    assert s.reminder_hour == 20  # the environment wins
    assert s.default_language == "en"  # the file fills what the environment lacks
    assert s.log_level == "DEBUG"  # an empty environment value counts as unset
    assert s.health_port == 8080  # an empty file value means the default


def test_token_from_env_file(base, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\n", encoding="utf-8")
    del base["TELEGRAM_BOT_TOKEN"]
    assert load(base, env_file=env_file).telegram_bot_token == TOKEN


def test_missing_env_file_is_skipped(base, tmp_path):
    assert load(base, env_file=tmp_path / "absent.env").reminder_hour == 9


def test_env_file_that_is_a_directory_is_an_error(base, tmp_path):
    assert "not a file" in error_of(base, env_file=tmp_path)


def test_explicit_env_ignores_os_environ(base, monkeypatch):
    monkeypatch.setenv("REMINDER_HOUR", "not a number")
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    s = load(base)
    assert s.reminder_hour == 9
    assert s.default_language == "fr"


def test_default_reads_os_environ_and_dot_env_in_working_directory(base, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("REMINDER_HOUR=6\nDEFAULT_LANGUAGE=en\n", encoding="utf-8")
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DIALOGUES_DIR", base["DIALOGUES_DIR"])
    monkeypatch.setenv("DEFAULT_LANGUAGE", "fr")
    s = load_settings()
    assert s.telegram_bot_token == TOKEN
    assert s.reminder_hour == 6
    assert s.default_language == "fr"


def test_values_are_stripped(base):
    base["TELEGRAM_BOT_TOKEN"] = f"  {TOKEN}\n"
    base["REMINDER_HOUR"] = " 8 "
    s = load(base)
    assert s.telegram_bot_token == TOKEN
    assert s.reminder_hour == 8


# The token


def test_missing_token_explains_botfather(base):
    del base["TELEGRAM_BOT_TOKEN"]
    message = error_of(base)
    assert "TELEGRAM_BOT_TOKEN" in message
    assert "@BotFather" in message
    assert "/newbot" in message
    assert ".env" in message


def test_empty_token_counts_as_missing(base):
    base["TELEGRAM_BOT_TOKEN"] = "   "
    assert "@BotFather" in error_of(base)


def test_token_optional_when_not_required(base):
    del base["TELEGRAM_BOT_TOKEN"]
    s = load(base, require_token=False)
    assert s.telegram_bot_token == ""
    assert s.secrets() == []


@pytest.mark.parametrize(
    ("token", "hint"),
    [
        (f"bot{TOKEN}", "drop the leading 'bot'"),
        ("123456789 AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "bot id, a colon"),
        ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "bot id, a colon"),
        ("123456789:AAH/dqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "bot id, a colon"),
    ],
)
def test_invalid_token_is_not_echoed(base, token, hint):
    base["TELEGRAM_BOT_TOKEN"] = token
    for require in (True, False):
        message = error_of(base, require_token=require)
        assert "TELEGRAM_BOT_TOKEN" in message
        assert hint in message
        assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0" not in message


# Other values


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("DATABASE_URL", "mysql://u:p@h/db", "postgresql://"),
        ("DATABASE_URL", "redis://localhost", "sqlite:///"),
        ("TELEGRAM_API_BASE_URL", "api.telegram.org/bot", "http://"),
        ("TELEGRAM_API_BASE_FILE_URL", "ftp://x/file/bot", "https://"),
        ("DEFAULT_LANGUAGE", "de", "fr, en"),
        ("DEFAULT_TIMEZONE", "Paris", "IANA"),
        ("DEFAULT_TIMEZONE", "../../etc/passwd", "IANA"),
        ("REMINDER_HOUR", "24", "0 to 23"),
        ("REMINDER_HOUR", "-1", "0 to 23"),
        ("REMINDER_HOUR", "nine", "0 to 23"),
        ("LOG_LEVEL", "verbose", "DEBUG, INFO"),
        ("DIALOGUES_DIR", "/nonexistent/dialogues", "folder"),
        ("WEBHOOK_ENABLED", "maybe", "true or false"),
        ("WEBHOOK_URL", "http://bot.example.com", "https://"),
        ("WEBHOOK_URL", "https://", "https://"),
        ("WEBHOOK_URL", "https://bot.example.com:9999", "443, 80, 88, 8443"),
        ("WEBHOOK_URL", "https://bot.example.com/?a=1", "without ?query"),
        ("WEBHOOK_URL", "https://bot.example.com:port", "https://"),
        ("WEBHOOK_LISTEN", "0.0.0.0:80", "address"),
        ("WEBHOOK_PORT", "0", "1 to 65535"),
        ("WEBHOOK_PORT", "65536", "1 to 65535"),
        ("WEBHOOK_PATH", "tele gram", "URL path"),
        ("WEBHOOK_PATH", "/", "URL path"),
        ("HEALTH_PORT", "http", "1 to 65535"),
        ("RENDER_WORKERS", "-1", "0 to 64"),
    ],
)
def test_invalid_value_names_variable_and_accepted(base, name, value, accepted):
    base[name] = value
    message = error_of(base)
    assert f"- {name}: " in message
    assert accepted in message


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/x.sqlite3",
        "sqlite:////data/x.sqlite3",
        "sqlite://",
        "data/x.sqlite3",
        "postgres://u@h/d",
        "postgresql://u:p@h:5432/d?options=-csearch_path%3Dalliance",
    ],
)
def test_database_urls_the_storage_factory_opens(base, url):
    base["DATABASE_URL"] = url
    assert load(base).database_url == url


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "on"])
def test_true_values(base, value):
    base.update(WEBHOOK_ENABLED=value, WEBHOOK_URL="https://b.example", WEBHOOK_SECRET=SECRET)
    assert load(base).webhook_enabled is True


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off"])
def test_false_values(base, value):
    base["WEBHOOK_ENABLED"] = value
    assert load(base).webhook_enabled is False


def test_ipv6_listen_address(base):
    base["WEBHOOK_LISTEN"] = "::"
    assert load(base).webhook_listen == "::"


def test_database_password_not_echoed(base):
    base["DATABASE_URL"] = "mysql://user:hunter2pass@host/db"
    message = error_of(base)
    assert "hunter2pass" not in message
    assert "mysql://user:***@host/db" in message


def test_all_problems_reported_at_once(base):
    del base["TELEGRAM_BOT_TOKEN"]
    base.update(REMINDER_HOUR="25", DEFAULT_LANGUAGE="de", HEALTH_PORT="x")
    message = error_of(base)
    for name in ("TELEGRAM_BOT_TOKEN", "REMINDER_HOUR", "DEFAULT_LANGUAGE", "HEALTH_PORT"):
        assert name in message
    assert message.count("\n- ") == 4


# Webhook mode and its secret


def test_webhook_requires_url_and_secret(base):
    base["WEBHOOK_ENABLED"] = "true"
    message = error_of(base)
    assert "- WEBHOOK_URL: required" in message
    assert "- WEBHOOK_SECRET: required" in message


def test_webhook_settings_may_be_set_while_disabled(base):
    base.update(WEBHOOK_URL="https://b.example", WEBHOOK_SECRET=SECRET)
    s = load(base)
    assert s.webhook_enabled is False
    assert s.secrets() == [TOKEN, SECRET]


@pytest.mark.parametrize(
    "secret", ["has space", "a" * 257, "with/slash", "accentué", "dollar$sign", "x=y"]
)
def test_invalid_webhook_secret_is_not_echoed(base, secret):
    base.update(WEBHOOK_ENABLED="true", WEBHOOK_URL="https://b.example", WEBHOOK_SECRET=secret)
    message = error_of(base)
    assert "- WEBHOOK_SECRET: expected 1-256 characters" in message
    assert "required" not in message  # present but invalid is one problem, not two
    assert secret not in message


@pytest.mark.parametrize("secret", ["a", "A-z_0", "b" * 256])
def test_valid_webhook_secrets(base, secret):
    base["WEBHOOK_SECRET"] = secret
    assert load(base).webhook_secret == secret


def test_enable_webhook(base):
    s = load(base)
    with pytest.raises(ConfigError, match="WEBHOOK_URL") as exc:
        s.enable_webhook()
    assert "WEBHOOK_SECRET" in str(exc.value)
    base.update(WEBHOOK_URL="https://b.example", WEBHOOK_SECRET=SECRET)
    enabled = load(base).enable_webhook()
    assert enabled.webhook_enabled is True
    assert enabled.webhook_endpoint == "https://b.example/telegram"


# Masking


def test_repr_masks_secrets(base):
    base.update(
        WEBHOOK_SECRET=SECRET,
        DATABASE_URL="postgresql://alliance:pa%40ss@db:5432/alliance",
    )
    s = load(base)
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert TOKEN not in text
        assert SECRET not in text
        assert "pa%40ss" not in text
        assert "pa@ss" not in text
        assert "postgresql://alliance:***@db:5432/alliance" in text
        assert "telegram_bot_token='***'" in text
        assert "webhook_secret='***'" in text
        assert "reminder_hour=9" in text
    assert s.secrets() == [TOKEN, SECRET, "pa%40ss", "pa@ss"]


def test_repr_shows_empty_secrets_as_empty():
    assert "webhook_secret=''" in repr(Settings())


def test_settings_are_frozen(base):
    s = load(base)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.reminder_hour = 3


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("postgresql://u:p:q@h/d", "postgresql://u:***@h/d"),
        ("sqlite:///data/x.sqlite3", "sqlite:///data/x.sqlite3"),
    ],
)
def test_mask_url_password(url, masked):
    assert config.mask_url_password(url) == masked
