#!/usr/bin/env bash
# Make sure the Debian packages a target needs are present: install them with apt-get when we
# are root, else stop with one line saying what to install.
set -euo pipefail

case "${1:-}" in
  run)  needed=(nginx) ;;
  test) needed=(nginx redis-server chromium nats-server) ;;
  bench) needed=(nginx redis-server wrk) ;;
  *)    echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

command_for() {
  case "$1" in
    redis-server) echo redis-server ;;
    *) echo "$1" ;;
  esac
}

missing=()
for package in "${needed[@]}"; do
  if ! command -v "$(command_for "$package")" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$package" ]; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} with apt-get..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing system packages: run 'sudo apt-get install ${missing[*]}' and try again." >&2
  exit 1
fi
