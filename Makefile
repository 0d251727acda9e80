# Tollgate: `make run` starts the whole stack on the embedded default; `make test` runs every check.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# Compile the dependencies once at install: this machine sets PYTHONDONTWRITEBYTECODE, so every
# process (pytest, granian, celery, the simulator) would otherwise compile its imports at start.
export UV_COMPILE_BYTECODE := 1
PYTHON ?= python3.11
export PYTHON
# uv from $(PYTHON), from PATH, or installed once into a private virtualenv under .tools/ (never
# by pip into the system's Python, which Debian forbids: PEP 668). See deploy/uv.sh.
UV := deploy/uv.sh
RUN := $(UV) run --frozen
# djade (templates) and django-upgrade (Python), as in .pre-commit-config.yaml; + --check to check.
DJADE = find templates \( -name '*.html' -o -name '*.txt' \) -print0 \
	| xargs -0 $(RUN) djade --target-version 5.2
DJANGO_UPGRADE = find . -name '*.py' -not -path './.venv/*' -not -path './var/*' -print0 \
	| xargs -0 $(RUN) django-upgrade --target-version 5.2

.PHONY: run test lint format bench bench-usage bench-console bench-counters setup install-production image \
	image-test

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	$(UV) sync --locked --all-groups --python $(PYTHON)
	@touch $@

# Production: the locked runtime dependencies only (no test, lint or benchmark tools).
install-production:
	$(UV) sync --locked --no-dev --python $(PYTHON)

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

# The one image for every role (deploy/image/Containerfile), FROM debian:bookworm-slim; where no
# registry is reachable, that base is built from Debian's packages first (base-image.sh). The
# host's CA bundle is a build secret (PyPI through a TLS-inspecting proxy); containers.conf
# makes podman work on cgroups v1 hosts without CAP_SYS_RESOURCE. Not part of `make test`.
IMAGE ?= localhost/tollgate:latest
BUILD_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
image: export CONTAINERS_CONF ?= $(CURDIR)/deploy/image/containers.conf
image:
	@deploy/ensure-packages.sh image
	deploy/image/base-image.sh
	podman build --secret id=build_ca,src=$(BUILD_CA_BUNDLE) -f deploy/image/Containerfile \
	  -t $(IMAGE) .

# Starts deploy/compose.yaml from the image, makes an API call through nginx over HTTPS.
image-test: export CONTAINERS_CONF ?= $(CURDIR)/deploy/image/containers.conf
image-test: export TOLLGATE_IMAGE := $(IMAGE)
image-test: image
	deploy/image/image-test.sh

# The gateway benchmark (wrk, nginx, private Redis servers): writes bench/results/<date>.json/.png.
bench: setup
	@deploy/ensure-packages.sh bench
	$(RUN) python bench/run.py

# The usage dashboard benchmark (its own PostgreSQL database, a year of rollups):
# writes bench/results/usage-<date>.json.
bench-usage: setup
	$(RUN) python bench/dashboard.py

# The seller console over 5,000 accounts and a year of daily usage (its own PostgreSQL database):
# writes bench/results/console-<date>.json.
bench-console: setup
	$(RUN) python bench/console.py

# The counters poll and the usage flush over 100k accounts' counters (README, "Usage at scale").
bench-counters: setup
	$(RUN) python bench/counters.py
