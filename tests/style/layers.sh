#!/usr/bin/env bash
# tests/style/layers.sh -- every #include "vireo/..." of src/ and include/vireo/
# keeps to the layers of docs/ARCHITECTURE.md, and the core reaches no device
# header, directly or through another header.
#
# A file's layer is its folder: src/X/ and include/vireo/X/ are layer X
# (src/arch/x86/ and include/vireo/arch/x86/: arch; include/vireo/abi/: the
# guest ABI's constants, shared with the test guest). A header directly in
# include/vireo/ has no layer: the check fails on it.
cd "$(dirname "$0")/../.."

# layer -> the layers its files may include (besides their own).
declare -A ALLOWED=(
	[lib]=""
	[core]="lib arch abi"
	[arch]="lib core pci abi"
	[hw]="lib abi"
	[pci]="lib core"
	[block]="lib"
	[net]="lib"
	[virtio]="lib core pci block net"
	[machine]="lib core arch hw pci block net virtio abi"
	[main]="lib core machine"
	[abi]=""
)
DEVICE_LAYERS=" hw pci virtio block net machine "

layer_of() { # path (src/..., include/vireo/... or vireo/...) -> layer
	local p=${1#include/}
	case "$p" in
	src/main.c) echo main ;;
	src/arch/*) echo arch ;;
	src/*/*) p=${p#src/}; echo "${p%%/*}" ;;
	vireo/arch/*) echo arch ;;
	vireo/*/*) p=${p#vireo/}; echo "${p%%/*}" ;;
	*) echo none ;;
	esac
}

includes_of() { # file -> the vireo/... headers it includes
	sed -n 's/^#include "\(vireo\/[^"]*\)".*/\1/p' "$1"
}

files=$(git ls-files 'src/*.c' 'src/*.h' 'include/vireo/*.h' 2>/dev/null)
if [ -z "$files" ]; then
	echo "SKIP: sources keep to their layers: not a git checkout"
	exit 0
fi

bad=()
for f in $files; do
	from=$(layer_of "$f")
	if [ -z "${ALLOWED[$from]+set}" ]; then
		bad+=("$f is in no layer's folder")
		continue
	fi
	for inc in $(includes_of "$f"); do
		to=$(layer_of "$inc")
		[ "$to" = "$from" ] && continue
		case " ${ALLOWED[$from]} " in
		*" $to "*) ;;
		*) bad+=("$f ($from) includes $inc ($to)") ;;
		esac
	done
done

# The core, through every header it reaches: no device layer.
declare -A seen=()
reach() { # header -> prints it and every header it reaches
	local h=$1 inc
	[ -n "${seen[$h]:-}" ] && return
	seen[$h]=1
	echo "$h"
	[ -f "include/$h" ] || return
	for inc in $(includes_of "include/$h"); do
		reach "$inc"
	done
}
for f in $files; do
	[ "$(layer_of "$f")" = core ] || continue
	seen=()
	for inc in $(includes_of "$f"); do
		for h in $(reach "$inc"); do
			case "$DEVICE_LAYERS" in
			*" $(layer_of "$h") "*) bad+=("$f (core) reaches $h ($(layer_of "$h")) through $inc") ;;
			esac
		done
	done
done

if [ ${#bad[@]} -eq 0 ]; then
	echo "PASS: sources keep to their layers"
else
	echo "FAIL: sources keep to their layers: ${#bad[@]} includes; first: ${bad[0]} (see docs/ARCHITECTURE.md)"
fi
