# Weike: `make run` installs what is missing and starts the service; `make test` runs the whole suite.
PYTHON ?= python3
# `make run HOST=0.0.0.0 PORT=8001`; plain assignments, so a HOST or PORT in the environment does not leak in.
HOST = 127.0.0.1
PORT = 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint unit bench clean

install: $(STAMP)
	@bash scripts/install-system.sh test
	@PYTHON=$(BIN)/python bash scripts/install-models.sh >/dev/null

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

run: install
	$(BIN)/weike serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy ingest transcode catalog workers api

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/x264_settings.py
	$(BIN)/python bench/asr.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/library.py
	$(BIN)/python bench/pack_zip.py
	$(BIN)/python bench/packs.py
	$(BIN)/python bench/tts_voices.py
	$(BIN)/python bench/similar.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
