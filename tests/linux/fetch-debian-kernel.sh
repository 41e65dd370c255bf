#!/usr/bin/env bash
# fetch-debian-kernel.sh [CACHE_DIR] -- Debian's stock cloud kernel as a PVH vmlinux.
#
# Resolves the concrete linux-image-*-cloud-amd64 package (and version) that
# apt's candidate of the linux-image-cloud-amd64 metapackage depends on,
# downloads it with `apt-get download`, extracts boot/vmlinuz-* with
# `dpkg-deb -x`, and turns it into CACHE_DIR/vmlinux with extract-vmlinux.
# CACHE_DIR (default build/linux-cache) then holds:
#   vmlinux   the uncompressed ELF kernel with its PVH entry note
#   version   release=<uname -r>, package=<name>, version=<Debian version>
#   *.deb     the downloaded package
# Idempotent: when vmlinux and version are both there it does nothing. The
# version file is written last, so an interrupted run is simply redone.
# Runs from the repository root; needs build/tools/extract-vmlinux (`make tools`),
# or the path in $EXTRACT_VMLINUX.
set -euo pipefail
# shellcheck source=tests/lib/debian-kernel.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/debian-kernel.sh"

meta=linux-image-cloud-amd64
cache=${1:-build/linux-cache}
extract=${EXTRACT_VMLINUX:-build/tools/extract-vmlinux}

die() {
	echo "fetch-debian-kernel: $*" >&2
	exit 1
}

if [[ -s $cache/vmlinux && -s $cache/version ]]; then
	exit 0
fi

for tool in apt-get apt-cache dpkg-deb; do
	command -v "$tool" >/dev/null || die "$tool not found (a Debian host is needed)"
done
[[ -x $extract ]] || die "$extract not built (run 'make tools')"

if ! apt-cache show "$meta" >/dev/null 2>&1; then
	echo "fetch-debian-kernel: $meta unknown to apt-cache; running apt-get update" >&2
	apt-get update -q >&2 || die "apt-get update failed"
	apt-cache show "$meta" >/dev/null 2>&1 || die "no package $meta in the apt sources"
fi

# The kernel the candidate version of the metapackage (the one `apt-get
# download $meta` would fetch) depends on.
debian_kernel_package "$meta" '^linux-image-[^ ]+-cloud-amd64( |$)'

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
extract=$(cd "$(dirname "$extract")" && pwd)/$(basename "$extract")
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# apt-get names the file <name>_<version with ':' as %3a>_<arch>.deb.
deb=$(find "$cache" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" -print -quit)
if [[ -z $deb ]]; then
	echo "fetch-debian-kernel: downloading $pkg $ver" >&2
	# apt drops privileges to _apt for the download when the directory allows it.
	chmod 0777 "$work"
	(cd "$work" && apt-get download -q "$pkg=$ver" >&2) || die "apt-get download $pkg=$ver failed"
	shopt -s nullglob
	debs=("$work"/*.deb)
	shopt -u nullglob
	((${#debs[@]} == 1)) || die "apt-get download $pkg left ${#debs[@]} .deb files"
	deb=$cache/$(basename "${debs[0]}")
	mv "${debs[0]}" "$deb"
fi

dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
shopt -s nullglob
vmlinuz=("$work"/root/boot/vmlinuz-*)
shopt -u nullglob
((${#vmlinuz[@]} == 1)) || die "$deb holds ${#vmlinuz[@]} boot/vmlinuz-* files, expected 1"
release=${vmlinuz[0]##*/vmlinuz-}

rm -f "$cache/version"
"$extract" "${vmlinuz[0]}" "$cache/vmlinux" >&2 || die "extract-vmlinux failed on $deb"
printf 'release=%s\npackage=%s\nversion=%s\n' "$release" "$pkg" "$ver" >"$work/version"
mv "$work/version" "$cache/version"
echo "fetch-debian-kernel: $cache/vmlinux is Linux $release ($pkg $ver)" >&2
