# mmbook: set up, open the book, test it.
#
#   make lab     open the book in JupyterLab (creates .venv on first use)
#   make test    run every test: tests/ and the notebooks in book/ (nbval)
#   make html    build the static HTML edition of the book into _build/html/ from
#                the notebooks' stored outputs (nothing is executed; works offline)
#   make course  build the nbgrader course from the book's exercises in _build/course/
#                (docs/teaching.md): source/ and release/ per chapter
#   make bench   run the benchmarks in benchmarks/ (on demand, not in CI): one table of
#                figures against targets; fails if a figure is over its target
#   make clean   remove .venv, caches and the HTML edition (never _build/course: its gradebook)
#
# PYTHON picks the interpreter the venv is made from (>= 3.10), e.g.
#   make test PYTHON=python3.12
# It only matters when .venv is created; run `make clean` to switch.
# LAB_ARGS is appended to `jupyter lab`, e.g. make lab LAB_ARGS="--no-browser --port 8899"
# PYTEST_ARGS is appended to pytest, e.g. make test PYTEST_ARGS="-x -k mlock"
# BENCH_ARGS is appended to python -m benchmarks, e.g. make bench BENCH_ARGS=--quick
# (one repetition and a subset) or BENCH_ARGS="--only bench_widgets"

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
COURSE_DIR ?= _build/course

.PHONY: lab test html course bench clean

# A plain venv: no --system-site-packages.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed-lab: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@

$(VENV)/.installed-html: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[html]'
	touch $@

$(VENV)/.installed-course: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[course]'
	touch $@

# Jupyter refuses to start as root without --allow-root; a root user (a
# container, a throwaway VM) who runs `make lab` has already made that choice.
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root)

# The notebooks are trusted first: their stored widget state (the apps and the
# exercise boxes) then shows on first open, before any cell is run.
lab: $(VENV)/.installed-lab
	$(BIN)/jupyter trust $(wildcard book/*.ipynb)
	exec $(BIN)/jupyter lab --notebook-dir=book $(ALLOW_ROOT) $(LAB_ARGS)

# book/ is passed only if it exists (pytest errors on a missing path);
# an existing book/ without notebooks simply adds no tests.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests $(wildcard book) --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider $(PYTEST_ARGS)

# Sphinx + myst-nb over edition/ (edition/book is book/); every script, style
# and font the pages load is in the build (docs/html-edition.md).
html: $(VENV)/.installed-html
	$(BIN)/sphinx-build -q -d _build/doctrees edition _build/html
	@echo "the HTML edition: _build/html/index.html"

# COURSE_DIR picks the directory, e.g. make course COURSE_DIR=~/courses/mmbook
course: $(VENV)/.installed-course
	$(BIN)/python -m widgets.course $(COURSE_DIR)

# bench uses the venv as it is and installs the project only into a venv that
# has never had it: no reinstall when pyproject.toml changes.
bench:
	@[ -e $(VENV)/.installed-lab ] || [ -e $(VENV)/.installed-test ] || \
		$(MAKE) --no-print-directory $(VENV)/.installed-lab
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build _build/html _build/doctrees .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -maxdepth 1 -name '*.egg-info' -type d -prune -exec rm -rf {} +
