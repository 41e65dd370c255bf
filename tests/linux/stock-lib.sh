# shellcheck shell=bash
# tests/linux/stock-lib.sh -- sourced by the stock-Linux device tests
# (boot-virtio-debian.sh, boot-net-debian.sh): Debian's cloud kernel, an
# initramfs of busybox and the package's own modules, and the verdict lines.
# The caller sets SUITE (its name in the SKIP/FAIL lines), CACHE, VIREO,
# LOGDIR and tmp (a scratch directory, once made) before the functions that
# need them.

# The whole script cannot run here: one line, exit 77.
skip() {
	echo "SKIP: stock Linux $SUITE: $*"
	exit 77
}

# Everything after this is moot: keep the logs, one FAIL line, exit 1.
die() {
	if [[ -n ${tmp:-} && -d $tmp ]]; then
		mkdir -p "$LOGDIR"
		cp -f "$tmp"/*.log "$tmp"/*.json "$LOGDIR"/ 2>/dev/null || true
	fi
	echo "FAIL: stock Linux $SUITE: $*"
	exit 1
}

# The host can run these tests at all: KVM, vireo, the tools, busybox, apt.
stock_require() { # extra tools...
	local tool
	[[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]] || skip "no usable /dev/kvm"
	[[ -x $VIREO ]] || die "$VIREO is not built"
	for tool in jq cpio gzip dpkg-deb "$@"; do
		command -v "$tool" >/dev/null || die "$tool is not installed"
	done
	[[ -x /bin/busybox ]] || die "/bin/busybox not found (apt-get install busybox-static)"
	command -v apt-get >/dev/null || skip "not a Debian host: no apt-get to fetch the kernel"
}

# The kernel package (cached by fetch-debian-kernel.sh): sets $deb.
stock_kernel_deb() {
	local package debs
	tests/linux/fetch-debian-kernel.sh "$CACHE" || die "could not fetch Debian's cloud kernel"
	package=$(sed -n 's/^package=//p' "$CACHE/version")
	shopt -s nullglob
	debs=("$CACHE/${package}"_*.deb)
	shopt -u nullglob
	((${#debs[@]} == 1)) || die "no single $package .deb in $CACHE (found ${#debs[@]})"
	deb=${debs[0]}
}

# An initramfs tree at ROOT with busybox and the MODULES (names, in load
# order) taken from $deb; PATTERNS are the package paths to extract
# (./lib/modules/*/kernel/...).
stock_initramfs_tree() { # ROOT "MODULES" PATTERNS...
	local root=$1 modules=$2 m ko
	shift 2
	mkdir -p "$root"/{bin,lib/modules,proc,sys,dev}
	cp /bin/busybox "$root/bin/"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "$@" ||
		die "cannot extract the modules from $deb"
	for m in $modules; do
		ko=$(find "$tmp/lib/modules" -name "$m.ko" -print -quit)
		[[ -n $ko ]] || die "$m.ko is not in $deb (compressed modules are not handled)"
		cp "$ko" "$root/lib/modules/"
	done
}

# ROOT (with its /init written) packed as OUT, a gzipped newc cpio.
stock_pack_initramfs() { # ROOT OUT
	chmod +x "$1/init"
	(cd "$1" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$2" ||
		die "cannot build the initramfs"
}

# The guest's "T: NAME value" lines (from $tlog) and the stats ($stats).
t() { sed -n "s/^$1 //p" "$tlog" | head -n 1; }
st() { jq -r "$1" "$stats"; }

fails=0
verdict() { # name, then an error message or nothing
	if [[ -z $2 ]]; then
		echo "PASS: stock Linux $1"
	else
		echo "FAIL: stock Linux $1: $2"
		fails=$((fails + 1))
	fi
}
