#!/bin/sh
# mk/deps.sh -- install the Debian packages vireo's build and tests need,
# only those missing. Called by `make deps` (and so by `make` and
# `make check`). Needs root (or sudo) only when something is missing.
set -eu

PACKAGES="gcc make libc6-dev binutils pkg-config libcmocka-dev liblz4-dev zlib1g-dev \
jq python3 qemu-system-x86 cpio busybox-static dpkg-dev clang clang-format libclang-rt-14-dev liburing-dev \
libseccomp-dev gnuplot-nox iproute2"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing missing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: need root to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
