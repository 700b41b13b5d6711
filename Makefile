# Two commands: `make demo` and `make test`. Both set themselves up (a local .venv, packages from the
# package index only) and start the local backends they need. `make unit` is the inner loop: the
# tests that need no engine (pytest marks `engine` and `vllm` deselected), well under two minutes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test unit lint setup testbed-vllm testbed-litellm clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[testbed,test]'
	@touch $(STAMP)

# Real vLLM on the CPU: its own cached venv + the converted model (first run: a few minutes).
testbed-vllm: $(STAMP)
	$(PY) -m migrate.testbed.vllm_env

testbed-litellm: $(STAMP)
	$(PY) -m migrate.testbed.litellm_env

# Lint, format check and types first: cheap, and a failure says exactly where.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: $(STAMP) lint testbed-vllm testbed-litellm
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not engine and not vllm" $(PYTEST_ARGS)

demo: $(STAMP)
	@$(PY) -m migrate.testbed.vllm_env || echo "demo: the vLLM environment could not be built here; falling back to llama.cpp as the new backend"
	$(PY) examples/demo.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
