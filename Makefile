# findimage: `make run` starts it on the embedded defaults, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Extra pip arguments for torch, e.g. PyTorch's CPU wheel index on a machine without a GPU
# (a plain `pip install torch` pulls several GB of CUDA libraries).
TORCH_PIP_ARGS ?=
# The database tests also run on PostgreSQL when this points at one (empty: SQLite only).
FINDIMAGE_TEST_DATABASE_URL ?=

# The browser tests drive Debian's Chromium (a test tool's own browser download needs the internet).
CHROMIUM ?= $(or $(FINDIMAGE_CHROMIUM),/usr/bin/chromium)

.PHONY: install run test lint browser bench bench-inference tiny-model screenshots clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) -c constraints.txt torch
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: install
	$(BIN)/findimage serve

lint: install
	$(BIN)/ruff check --quiet .
	$(BIN)/lint-imports

# Installs Chromium from the system's packages where it can (as root, or with sudo), else stops
# here, once, saying the one command to run.
browser:
	@[ -x "$(CHROMIUM)" ] || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && echo sudo; } || echo none); \
	  if [ "$$sudo" = none ] || ! command -v apt-get >/dev/null; then \
	    echo "The browser tests need Chromium at $(CHROMIUM). Install it with: sudo apt-get install chromium" \
	         "(or point FINDIMAGE_CHROMIUM at one), then run make test again." >&2; exit 1; fi; \
	  echo "Installing Debian's chromium for the browser tests ..."; \
	  $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	  { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }

test: lint browser
	FINDIMAGE_CHROMIUM=$(CHROMIUM) FINDIMAGE_TEST_DATABASE_URL=$(FINDIMAGE_TEST_DATABASE_URL) $(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/ingest.py

bench-inference: install
	$(BIN)/python bench/inference.py

# The README's screenshots: each view at desktop and phone width, from the browser tests.
screenshots: install
	FINDIMAGE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/web -k "every_view or highlighted"

# A tiny random-weight CLIP as an open_clip local-dir model, for offline smoke runs.
tiny-model: install
	$(BIN)/findimage model save-tiny data/tiny-clip

clean:
	rm -rf $(VENV) data .pytest_cache
