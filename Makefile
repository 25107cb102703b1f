# Two commands: `make repro` (the default pipeline) and `make test` (lint, the docs build, then every test).
# `make test-fast` skips the tests marked slow (dvc repro, git, npm, whole trainings).
# `make docs` serves the documentation site (docs/) locally.
# Both create .venv from requirements.txt once; later runs reuse it until
# requirements.txt or pyproject.toml change, or the TensorFlow build changes.
#
# TensorFlow build: `gpu` (tensorflow[and-cuda] at requirements.txt's tensorflow-cpu version) when
# `nvidia-smi -L` finds an NVIDIA GPU, else `cpu` (requirements.txt as it is); TF_BUILD=gpu|cpu
# overrides either way. The stamp names the build installed: .venv/.installed (cpu) or
# .venv/.installed-gpu; each build's recipe removes the other's stamp, so switching reinstalls.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
TF_BUILD ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
TF_BUILD := $(strip $(TF_BUILD))
ifeq ($(filter $(TF_BUILD),cpu gpu),)
$(error TF_BUILD must be cpu or gpu, not '$(TF_BUILD)')
endif
CPU_STAMP := $(VENV)/.installed
GPU_STAMP := $(VENV)/.installed-gpu
STAMP := $(if $(filter gpu,$(TF_BUILD)),$(GPU_STAMP),$(CPU_STAMP))
GPU_REQUIREMENTS := $(VENV)/requirements-gpu.txt
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: repro test test-fast lint docs docs-build bench paper-smoke clean-venv venv ls-venv report exps noise-band

repro: $(STAMP)
	dvc repro

# Two pytest-xdist workers, a test file to a worker (its module fixtures built once), the two
# longest files first (tests/conftest.py): 20 minutes at most on 2 cores, 3 for test-fast
# (docs/developing.md, "How long the tests take"). `python -m pytest` alone runs in one process.
PYTEST_WORKERS := -n 2 --dist loadfile --no-loadscope-reorder

test: lint docs-build
	python -m pytest -q $(PYTEST_WORKERS)

test-fast: lint
	python -m pytest -q -m "not slow" $(PYTEST_WORKERS)

lint: $(STAMP)
	ruff check .
	ruff format --check .

# `make docs`: the documentation site (docs/, mkdocs.yml) on http://127.0.0.1:8000, rebuilt as you edit.
# `make docs-build` builds it into .site/ with --strict: a broken link, a page left out of the
# navigation or a missing included file (metrics/report.md's parts, bench/*.md) fails `make test`.
# (Not --quiet: it hides the warnings that --strict counts, and the build then passes.)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 mkdocs serve --dev-addr 127.0.0.1:8000

docs-build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict

# `make bench`: every benchmark in interleaved rounds, then one table (figure, goal, verdict,
# machine) printed and written to bench/results.md, from the rows in bench/results.jsonl.
# The annotation, export and serve benchmarks refuse to run without the bundle (exit 2: `dvc repro
# bundle` first); their rows then say "not measured" and the others still run. About 30 minutes on
# 2 cores: run it on an otherwise idle machine, or the verdicts turn "unresolved".
BENCH_ROWS := bench/results.jsonl
bench: $(STAMP)
	rm -f $(BENCH_ROWS)
	python bench/crop_throughput.py --profile --results $(BENCH_ROWS)
	python bench/crop_throughput.py --size 224 --images 300 --results $(BENCH_ROWS)
	python bench/input_pipeline.py --results $(BENCH_ROWS)
	python bench/input_pipeline.py --crop 64 --results $(BENCH_ROWS)
	python bench/train_overhead.py --results $(BENCH_ROWS)
	python bench/train_overhead.py --augment --results $(BENCH_ROWS)
	python bench/first_step.py --results $(BENCH_ROWS)
	python bench/feed_rate.py --results $(BENCH_ROWS)
	python bench/predict_batch.py --results $(BENCH_ROWS)
	python bench/annotate_throughput.py --results $(BENCH_ROWS) || test $$? -eq 2
	python bench/export.py --results $(BENCH_ROWS) || test $$? -eq 2
	python bench/serve.py --results $(BENCH_ROWS) || test $$? -eq 2
	python bench/epoch_stability.py --results $(BENCH_ROWS)
	python bench/trace_reuse.py --results $(BENCH_ROWS)
	python bench/data_layout.py --results $(BENCH_ROWS) --out bench/data_layout.md
	python bench/benchstats.py $(BENCH_ROWS) bench/results.md

# `make paper-smoke`: the paper profile run small (bench/paper_smoke.py): a scratch copy of this
# working tree, the paper profile plus a counts-only overlay, `dvc repro report` at 224 px on samples
# in DeepFashion's and iMaterialist's formats; images/s per training stage and the full run's
# extrapolated time, written to bench/paper_smoke.md. About half an hour on 2 cores.
paper-smoke: $(STAMP)
	python bench/paper_smoke.py

# The CPU build; the uninstall line appears only where the GPU build was installed before.
$(CPU_STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3.11 on PATH (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(if $(wildcard $(GPU_STAMP)),$(VENV)/bin/pip uninstall --quiet -y tensorflow && rm -f $(GPU_STAMP))
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(CPU_STAMP)

# The GPU build: requirements.txt with its tensorflow-cpu line as tensorflow[and-cuda], same version
# (both builds install the same `tensorflow` module files, so the CPU build is uninstalled first).
$(GPU_STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3.11 on PATH (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip uninstall --quiet -y tensorflow-cpu && rm -f $(CPU_STAMP)
	$(VENV)/bin/pip install --quiet --upgrade pip
	sed 's/^tensorflow-cpu==/tensorflow[and-cuda]==/' requirements.txt > $(GPU_REQUIREMENTS)
	@grep -q '^tensorflow\[and-cuda\]==' $(GPU_REQUIREMENTS) || { echo "error: no tensorflow-cpu== line in requirements.txt to swap"; exit 1; }
	$(VENV)/bin/pip install --quiet -r $(GPU_REQUIREMENTS)
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(GPU_STAMP)

clean-venv:
	rm -rf $(VENV)

# `make venv`: only the environment (CI creates it in its own step, before `dvc repro`).
venv: $(STAMP)

# `make ls-venv`: Label Studio in a venv of its own, .venv-ls, from requirements-ls.txt (its
# dependencies clash with TensorFlow's). tests/annotate/test_label_studio_server.py starts the server
# from it; .ci/run creates it before `make test`. Recreated only when requirements-ls.txt changes.
LS_VENV := .venv-ls
LS_STAMP := $(LS_VENV)/.installed
ls-venv: $(LS_STAMP)

$(LS_STAMP): requirements-ls.txt
	@test -n "$(PYTHON)" || { echo "error: no python3.11 on PATH (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet --upgrade pip
	$(LS_VENV)/bin/pip install --quiet -r requirements-ls.txt
	touch $(LS_STAMP)

# `make report BASE=main [OUT=report.md]`: the pull request comment (metrics, params and
# plots changed against BASE) as Markdown; `@` keeps make's echo out of a redirected stdout.
BASE ?= main
report: $(STAMP)
	@python -m fashioncat.reporting.pr_comment --base $(BASE) $(if $(OUT),--out $(OUT))

# `make exps`: `dvc exp show` with only the params and metrics that differ between experiments.
exps: $(STAMP)
	@dvc exp show --no-pager --only-changed --md

# `make noise-band REVS="HEAD seed2022"`: the seed-noise band from runs differing only in seed
# (docs/reproducibility.md, "The noise band"); it writes metrics/noise_band.json and the table
# the docs include, metrics/noise_band.md.
noise-band: $(STAMP)
	python -m fashioncat.reporting.noise_band $(REVS)
