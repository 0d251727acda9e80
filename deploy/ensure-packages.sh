#!/usr/bin/env bash
# Make sure the Debian packages a target needs are present: install them with apt-get when we
# are root, else stop with one line saying what to install.
set -euo pipefail

case "${1:-}" in
  run)  needed=(nginx) ;;
  test) needed=(nginx redis-server redis-tools iproute2 chromium nodejs npm nats-server) ;;
  bench) needed=(nginx redis-server wrk) ;;
  # dnsname: containers of a compose stack find each other by service name (CNI networks).
  image) needed=(podman buildah debootstrap runc podman-compose openssl
                 golang-github-containernetworking-plugin-dnsname) ;;
  *)    echo "usage: $0 run|test|bench|image" >&2; exit 2 ;;
esac

command_for() {
  case "$1" in
    redis-server) echo redis-server ;;
    golang-github-containernetworking-plugin-dnsname) echo /usr/lib/cni/dnsname ;;
    redis-tools) echo redis-cli ;;
    iproute2) echo ip ;;
    nodejs) echo node ;;
    *) echo "$1" ;;
  esac
}

missing=()
for package in "${needed[@]}"; do
  if ! command -v "$(command_for "$package")" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$package" ]; then
    missing+=("$package")
  fi
done
install_stripe_reference() {
  # Stripe's API description for the pinned version (the stripe package's type declarations),
  # read by the billing conformance test; npm keeps its download cache, we keep node_modules.
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/stripe_reference"
  if [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "Installing Stripe's API description (npm ci in tests/stripe_reference)..."
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} with apt-get..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing system packages: run 'sudo apt-get install ${missing[*]}' and try again." >&2
    exit 1
  fi
fi
if [ "$1" = test ]; then install_stripe_reference; fi
