# Two entry points: `make demo` (the main job on the embedded default) and `make test`.
# Both create .venv and install everything on first use. torch is installed first and pinned, so that pip does not
# resolve an unpinned torch to a multi-GB CUDA build on a CPU-only machine. Override TORCH_SPEC / TORCH_PIP_ARGS to
# use another build (e.g. a CUDA one on a GPU machine).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
BIN := $(VENV)/bin

.PHONY: install demo test test-fast clean

$(BIN)/lam: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/lam

install: $(BIN)/lam

demo: install
	$(BIN)/lam demo

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info
