# The two commands of the README: `make demo` and `make test`. Both set up .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
TORCH := torch==2.13.0
PYTHAE_VENV := bench/pythae-venv

.PHONY: demo test lint bench serve docs docs-serve dist clean pythae-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: with 2.13.0 in place the package's own `torch>=2.2` installs nothing more.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install $(TORCH)
	$(PIP) install -e .
	touch $@

# The dev extra brings the optional ones (web, tensorboard, onnx) and the notebook's kernel; the kernel spec is
# written into the venv so that Jupyter started from it runs examples/ with this interpreter.
$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (latentlab)" >/dev/null
	touch $@

demo: $(VENV)/.installed-dev
	@scripts/ensure-apt.sh dataset-fashion-mnist /usr/share/datasets/fashion-mnist "the full Fashion-MNIST"
	$(VENV)/bin/latentlab report --profile quick
	@echo "Explore the models: $(VENV)/bin/latentlab serve   (then open the printed URL)"

test: $(VENV)/.installed-dev
	@scripts/ensure-apt.sh chromium /usr/bin/chromium "the browser tests"
	@command -v node >/dev/null || scripts/ensure-apt.sh nodejs /usr/bin/node "the page's JavaScript tests"
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests scripts bench

# Every section of issue #13's targets, about 70 minutes on 2 cores; `make bench ONLY=parallel,report` runs some.
bench: $(VENV)/.installed-dev $(if $(findstring family,$(ONLY)),$(PYTHAE_VENV)/bin/python)
	@scripts/ensure-apt.sh dataset-fashion-mnist /usr/share/datasets/fashion-mnist "the full Fashion-MNIST"
	$(PY) bench/run.py $(if $(ONLY),--only $(ONLY))

# The bench-only venv of `bench/family.py` (the VAE family against pythae): pythae 0.1.2 beside the same torch,
# never in latentlab's own venv nor its dependencies. `make bench ONLY=family` makes it first.
$(PYTHAE_VENV)/bin/python:
	$(PYTHON) -m venv $(PYTHAE_VENV)
	$(PYTHAE_VENV)/bin/pip --disable-pip-version-check -q install $(TORCH) pythae==0.1.2

pythae-venv: $(PYTHAE_VENV)/bin/python

serve: $(VENV)/.installed-dev
	$(VENV)/bin/latentlab serve

# The documentation site into site/, offline (Material's offline plugin, no web fonts); --strict fails on a
# warning, a broken link or a missing reference (tests/test_docs.py runs the same build).
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8001

# The sdist and the wheel into dist/ (tests/test_wheel.py installs the wheel into a fresh venv).
dist: $(VENV)/.installed-dev
	$(PY) -m build --outdir dist .

clean:
	rm -rf $(VENV) runs report site dist .pytest_cache .ruff_cache
