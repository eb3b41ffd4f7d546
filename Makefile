# alliance-bot: every command a developer or an operator needs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run chat test test-long lint format typecheck check validate graph clean

$(BIN)/alliance-bot: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/alliance-bot  ## create .venv and install the bot with its dev tools

run: install  ## run the bot (polling; needs TELEGRAM_BOT_TOKEN)
	$(BIN)/alliance-bot run

chat: install  ## the checklist in this terminal, no Telegram needed
	$(BIN)/alliance-bot chat

test: install  ## lint, type-check and the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

test-long: install  ## the slow fault-injection and fuzz runs too
	$(BIN)/pytest -q -m "slow or not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

validate: install  ## check the dialogue files
	$(BIN)/alliance-bot validate

graph: install  ## regenerate docs/dialogue.md
	$(BIN)/alliance-bot graph --out docs/dialogue.md

.PHONY: bench bench-quick
bench: install  ## benchmarks against the echo and ConversationHandler bots (BENCHMARKS.md), 7-21 min
	$(BIN)/python -m bench

bench-quick: install  ## the benchmarks on a tiny load, one round: a smoke run, under a minute
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
