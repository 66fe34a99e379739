# Two entry points: `make demo` (the main job on the embedded default) and `make test`.
# Both create .venv and install everything on first use, at the exact versions of requirements/lock.txt, so that an
# upstream release cannot break a fresh clone. torch is installed first and pinned, so that pip does not resolve it
# to a multi-GB CUDA build on a CPU-only machine; override TORCH_SPEC / TORCH_PIP_ARGS for another build (e.g. CUDA).
#
# Keeping the lock fresh:
#   make lock         re-resolve requirements/lock.txt from setup.cfg's ranges (pip-tools), then run `make test`
#   make test-latest  run the tests in .venv-latest against the newest releases setup.cfg allows (no lock), so that
#                     an upstream break shows here before it reaches users
PYTHON ?= python3
VENV ?= .venv
LATEST_VENV ?= .venv-latest
TOOLS_VENV ?= .venv-tools
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PIP_TOOLS_SPEC ?= pip-tools==7.6.2
LOCK := requirements/lock.txt
BIN := $(VENV)/bin
PYTEST_ARGS ?= -q

.PHONY: install demo test test-fast lock test-latest clean

$(BIN)/lam: setup.cfg pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ".[dev]"
	touch $(BIN)/lam

install: $(BIN)/lam

demo: install
	$(BIN)/lam demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not slow"

# torch is marked unsafe so that the lock never names a build (+cpu or +cuXYZ): TORCH_SPEC installs it first.
lock:
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet "$(PIP_TOOLS_SPEC)"
	$(TOOLS_VENV)/bin/pip-compile --quiet --upgrade --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --unsafe-package torch --constraint requirements/torch.txt --output-file $(LOCK) setup.cfg
	$(MAKE) test

test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	echo "$(TORCH_SPEC)" > $(LATEST_VENV)/torch-pin.txt
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager \
		--constraint $(LATEST_VENV)/torch-pin.txt -e ".[dev]"
	$(LATEST_VENV)/bin/python -m pip list --format=freeze > $(LATEST_VENV)/versions.txt
	$(LATEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(TOOLS_VENV) build *.egg-info
