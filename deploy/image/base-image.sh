#!/usr/bin/env bash
# Build a stand-in for the public `debian:bookworm-slim` image when no image registry is
# reachable: debootstrap a minimal bookworm from the machine's own Debian mirror (read from its
# apt sources) and import it into podman under that name. A machine that can pull the real
# image never runs this: `make image` skips it when the image exists.
set -euo pipefail

NAME=${BASE_IMAGE:-debian:bookworm-slim}
if podman image exists "$NAME"; then
  exit 0
fi
# The first Debian archive in the active sources (*.list, *.sources), not the security one.
sources=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' $sources 2>/dev/null \
  | awk '{print $2}' | grep -E '/debian/?$' | head -n1)
mirror=${mirror:-${DEBIAN_MIRROR:?no Debian mirror in the apt sources: set DEBIAN_MIRROR}}
work=$(mktemp -d /tmp/tollgate-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "debootstrap bookworm from $mirror (a few minutes)..."
debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" "$mirror" >"$work/log" \
  || { tail -20 "$work/log"; exit 1; }
# What the slim image leaves out: documentation, man pages, apt lists, caches.
rm -rf "$work"/rootfs/usr/share/{doc,man,info}/* "$work"/rootfs/var/lib/apt/lists/* \
  "$work"/rootfs/var/cache/apt/*.bin "$work"/rootfs/var/cache/apt/archives/*.deb
tar -C "$work/rootfs" -c . | podman import --change 'CMD ["bash"]' - "$NAME" >/dev/null
echo "imported $NAME"
