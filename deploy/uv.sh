#!/bin/sh
# uv, however this machine provides it, run with our arguments: the Makefile's $(UV).
#   1. `$PYTHON -m uv`, a Python that has uv installed (a pyenv or python.org build, a venv);
#   2. `uv` on PATH;
#   3. a private copy under .tools/uv ($TOLLGATE_TOOLS_DIR), installed once into a virtualenv
#      made with `$PYTHON -m venv`.
# Never `pip install` into the system's Python: Debian's is externally managed (PEP 668) and
# refuses, as it should. A fresh Debian bookworm needs python3.11 and python3.11-venv.
set -eu
python=${PYTHON:-python3.11}
root=$(cd "$(dirname "$0")/.." && pwd)
private=${TOLLGATE_TOOLS_DIR:-$root/.tools}/uv
# The version the image installs too (deploy/image/Containerfile).
version=0.13.9

if "$python" -m uv --version >/dev/null 2>&1; then exec "$python" -m uv "$@"; fi
if command -v uv >/dev/null 2>&1; then exec uv "$@"; fi
# .complete is written last: a directory without it is an interrupted install, made again.
if [ -f "$private/.complete" ]; then exec "$private/bin/uv" "$@"; fi

if ! command -v "$python" >/dev/null 2>&1; then
  echo "$python not found: run 'sudo apt-get install python3.11 python3.11-venv'" \
    "(or set PYTHON to a Python 3.11)" >&2
  exit 1
fi
echo "uv not found: installing uv $version into $private (a private virtualenv)" >&2
rm -rf "$private"
mkdir -p "$(dirname "$private")"
if ! "$python" -m venv "$private" >&2; then
  rm -rf "$private"
  echo "$python cannot make a virtualenv: run 'sudo apt-get install python3.11-venv'" >&2
  exit 1
fi
"$private/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$version" >&2
touch "$private/.complete"
exec "$private/bin/uv" "$@"
