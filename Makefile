# Two commands do all set-up on a fresh machine:
#   make book   - create .venv from requirements-lock.txt, train what the run cache lacks, execute the run pages, build _build/html
#                 (WORKERS=N training processes side by side; SEEDS=N seeds per headline model)
#   make test   - create .venv and run the test suite (unit tests, CLI, a smoke build of the whole book),
#                 on every core (pytest-xdist); `make test-quick` runs the tests not marked slow (a few minutes less than
#                 the whole: no smoke book, browser, Dask cluster or notebook)
#
# Data: VAE_MNIST_DATA_DIR if set; else ../shared/data/mnist when it exists; else Keras's download.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SEEDS  ?= 1
# WORKERS=N: training processes of the build's Dask cluster (empty: vae-mnist's default; 1: serial)
WORKERS ?=
# COMPARE=LEDGER: the results ledger (results.json, or a built book) the Provenance page compares with
# (empty: this folder's previous build)
COMPARE ?=
DATA_DIR := $(or $(VAE_MNIST_DATA_DIR),$(wildcard $(CURDIR)/../shared/data/mnist))
export VAE_MNIST_DATA_DIR := $(DATA_DIR)

.PHONY: book test test-quick venv clean clean-cache

venv: $(VENV)/.installed

# The environment comes from the lock (every package pinned and hashed; `python scripts/lock.py`
# re-locks after a pyproject.toml change, `--upgrade` moves to the newest allowed versions), then the
# project itself without dependencies. README, "Without make", lists these same commands.
$(VENV)/.installed: pyproject.toml requirements-lock.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3
	touch $@

book: venv
	scripts/ensure-fashion.sh
	$(BIN)/vae-mnist book --seeds $(SEEDS) $(if $(WORKERS),--workers $(WORKERS)) $(if $(COMPARE),--compare "$(COMPARE)")

# -n auto: one pytest worker per core; --dist loadgroup: each test module stays on one worker (its
# trained fixtures are made once) and the smoke book's tests form one group, started first (collection
# order, which tests/conftest.py sets, rather than xdist's largest-group-first).
PYTEST_PARALLEL := -n auto --dist loadgroup --no-loadscope-reorder

test: venv
	scripts/ensure-browser.sh $(VENV)
	scripts/ensure-fashion.sh
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-quick: venv
	scripts/ensure-fashion.sh
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

clean:
	rm -rf _build book/runs/*.ipynb

clean-cache:
	rm -rf .cache

# make pdf - one PDF of the whole book, _build/pdf/book.pdf, from the book `make book` built
#            (the single-page HTML build printed by Chromium: vae_mnist/pdf.py)
.PHONY: pdf
pdf: venv
	scripts/ensure-browser.sh $(VENV)
	$(BIN)/vae-mnist pdf
