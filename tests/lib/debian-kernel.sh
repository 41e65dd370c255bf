# shellcheck shell=bash
# tests/lib/debian-kernel.sh -- which concrete Debian kernel package a
# metapackage stands for. Sourced by tests/linux/fetch-debian-kernel.sh and
# tests/emu-kvm/run-in-vm.sh; needs a die() function in the caller.

# debian_kernel_package META REGEX: sets $pkg and $ver to the kernel package
# that the candidate version of META depends on (the first Depends entry
# matching REGEX, e.g. '^linux-image-[^ ]+-cloud-amd64( |$)') and its version.
# The dependency is usually pinned: "linux-image-6.1.0-NN-cloud-amd64 (= V)".
debian_kernel_package() {
	local meta=$1 regex=$2 dep
	dep=$(apt-cache show --no-all-versions "$meta" 2>/dev/null | sed -n 's/^Depends: //p' |
		tr ',' '\n' | sed -E 's/^ +//; s/ +$//' | grep -E "$regex" | head -n 1 || true)
	[[ -n $dep ]] || die "cannot find the kernel package that $meta depends on"
	pkg=${dep%% *}
	if [[ $dep =~ \(=\ ([^\)]+)\) ]]; then
		ver=${BASH_REMATCH[1]}
	else
		ver=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2; exit }')
		[[ -n $ver && $ver != "(none)" ]] || die "$pkg has no installable version"
	fi
}
