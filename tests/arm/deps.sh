#!/usr/bin/env bash
# Installs what the aarch64 cross build and its qemu runs need: Debian's cross
# toolchain, qemu-user, and the arm64 builds of the libraries the library, the
# command and the tests link (Debian multiarch).  Adds the arm64 architecture
# to dpkg once; everything else goes through tests/deps.sh, which installs only
# what is missing (idempotent, non-interactive).
#   tests/arm/deps.sh PKG...     the Makefile's package names, without ":arm64"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# pkg-config runs on the build machine; it has no arm64 twin to install.
arm=()
for p in "$@"; do
	[ "$p" = pkg-config ] || arm+=("$p:arm64")
done
if [ "$(dpkg --print-architecture)" = arm64 ]; then
	# A native aarch64 host: the plain packages are the arm64 ones.
	exec bash "$ROOT/tests/deps.sh" "$@"
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "deps: adding the arm64 architecture to dpkg (dpkg --add-architecture arm64)" >&2
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO dpkg --add-architecture arm64
	# tests/deps.sh runs apt-get update before installing, which fetches the
	# arm64 package lists the line above made apt look for.
fi
exec bash "$ROOT/tests/deps.sh" gcc-aarch64-linux-gnu qemu-user "${arm[@]}"
