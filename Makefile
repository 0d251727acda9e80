# Tollgate: `make run` starts the whole stack on the embedded default; `make test` runs every check.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# Compile the dependencies once at install: this machine sets PYTHONDONTWRITEBYTECODE, so every
# process (pytest, granian, celery, the simulator) would otherwise compile its imports at start.
export UV_COMPILE_BYTECODE := 1
PYTHON ?= python3.11
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
# djade (templates) and django-upgrade (Python), as in .pre-commit-config.yaml; + --check to check.
DJADE = find templates \( -name '*.html' -o -name '*.txt' \) -print0 \
	| xargs -0 $(RUN) djade --target-version 5.2
DJANGO_UPGRADE = find . -name '*.py' -not -path './.venv/*' -not -path './var/*' -print0 \
	| xargs -0 $(RUN) django-upgrade --target-version 5.2

.PHONY: run test lint format bench bench-usage bench-counters setup

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked --all-groups --python $(PYTHON)
	@touch $@

run: setup
	@deploy/ensure-packages.sh run
	$(RUN) python manage.py runstack

test: setup
	@deploy/ensure-packages.sh test
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(DJADE) --check
	$(DJANGO_UPGRADE) --check
	$(RUN) python manage.py makemigrations --check --dry-run
	@$(RUN) pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	  exit $$status

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(DJADE) --check
	$(DJANGO_UPGRADE) --check

format: setup
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
	$(DJADE)
	$(DJANGO_UPGRADE)

# The gateway benchmark (wrk, nginx, private Redis servers): writes bench/results/<date>.json/.png.
bench: setup
	@deploy/ensure-packages.sh bench
	$(RUN) python bench/run.py

# The usage dashboard benchmark (its own PostgreSQL database, a year of rollups):
# writes bench/results/usage-<date>.json.
bench-usage: setup
	$(RUN) python bench/dashboard.py

# The counters poll and the usage flush over 100k accounts' counters (README, "Usage at scale").
bench-counters: setup
	$(RUN) python bench/counters.py
