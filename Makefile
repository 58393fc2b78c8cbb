# Every target makes the virtual environment it needs, so a fresh clone works with one command.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench sandbox bot clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kconsole demo

# Lint and types first (seconds), then the suite: a regression in either fails CI.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	@# the Silero VAD reference row of the phone-line figure (bench only; the bot never imports it)
	-@$(BIN)/python -c "import onnxruntime" 2>/dev/null || $(BIN)/pip install -q onnxruntime
	-@$(BIN)/pip show -q silero-vad >/dev/null 2>&1 || $(BIN)/pip install -q --no-deps silero-vad
	$(BIN)/python -m bench

sandbox: $(STAMP)
	$(BIN)/kconsole sandbox

bot: $(STAMP)
	$(BIN)/kconsole bot

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
