# wmhub developer entry points. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MUJOCO_GL ?= egl
export HF_HUB_DISABLE_XET := 1

.PHONY: install install-lerobot lint test test-fast quickstart bench lock clean

install: $(VENV)/.installed

# CPU torch first, from the pinned local wheel, so nothing pulls CUDA packages;
# then the locked set; then wmhub itself (editable, no dependency resolution).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# LeRobot 0.4.4, which the interop tests read exports with, pins torch<2.11, huggingface-hub<0.36 and
# datasets<5: it gets a venv of its own, CPU torch first, then its lock without dependency resolution.
LEROBOT_VENV ?= .venv-lerobot
install-lerobot: $(LEROBOT_VENV)/.installed

$(LEROBOT_VENV)/.installed: requirements-lerobot.lock
	$(PYTHON) -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/python -m pip install --quiet "torch==2.13.0"
	$(LEROBOT_VENV)/bin/python -m pip install --quiet --no-deps -r requirements-lerobot.lock
	touch $@

# ruff (style, imports, bugbear) and the import-layer contract in pyproject.toml (no upward import, no cycle)
lint: install
	$(BIN)/ruff check toolkit tests benchmarks docs setup.py
	$(BIN)/lint-imports

test: install install-lerobot lint
	$(BIN)/python -m pytest -q --durations=15

test-fast: install install-lerobot
	$(BIN)/python -m pytest -q -m "not slow"

quickstart: install
	$(BIN)/wmhub quickstart

bench: install
	$(BIN)/python benchmarks/generate_reacher.py

lock: install
	{ head -2 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^wmhub'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) $(LEROBOT_VENV) wmhub-quickstart
