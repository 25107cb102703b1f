# Two commands: `make repro` (the default pipeline) and `make test` (lint, then every test).
# `make test-fast` skips the tests marked slow (dvc repro, git, npm, whole trainings).
# Both create .venv from requirements.txt once; later runs reuse it until
# requirements.txt or pyproject.toml change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: repro test test-fast lint bench clean-venv venv report exps noise-band

repro: $(STAMP)
	dvc repro

test: lint
	python -m pytest -q

test-fast: lint
	python -m pytest -q -m "not slow"

lint: $(STAMP)
	ruff check .
	ruff format --check .

bench: $(STAMP)
	python bench/crop_throughput.py
	python bench/input_pipeline.py
	python bench/train_overhead.py

$(STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3.11 on PATH (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

# `make venv`: only the environment (CI creates it in its own step, before `dvc repro`).
venv: $(STAMP)

# `make report BASE=main [OUT=report.md]`: the pull request comment (metrics, params and
# plots changed against BASE) as Markdown; `@` keeps make's echo out of a redirected stdout.
BASE ?= main
report: $(STAMP)
	@python -m fashioncat.reporting.pr_comment --base $(BASE) $(if $(OUT),--out $(OUT))

# `make exps`: `dvc exp show` with only the params and metrics that differ between experiments.
exps: $(STAMP)
	@dvc exp show --no-pager --only-changed --md

# `make noise-band REVS="HEAD seed2022"`: the seed-noise band from runs differing only in seed
# (see README, "Seed noise"); it writes metrics/noise_band.json.
noise-band: $(STAMP)
	python -m fashioncat.reporting.noise_band $(REVS)
