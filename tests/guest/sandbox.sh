#!/usr/bin/env bash
# tests/guest/sandbox.sh -- vireo's sandbox (README "Security"): on by
# default, a forbidden system call ends vireo with one line naming the
# thread and the call, and the unprivileged mode (--uid/--gid/--chroot)
# still runs the guest and its disk.
#
# The forbidden-call cases use the sanitized test build (build/vireo-san),
# the only one with the test hook VIREO_TEST_FORBIDDEN_SYSCALL=main|vcpu|io
# that makes that thread call execve once, and VIREO_TEST_ASAN_REPORT that
# makes it overflow a heap buffer (the sanitizer's report must get out).
source "$(dirname "$0")/lib.sh"

VIREO_SAN=${VIREO_SAN:-build/vireo-san}
SEED=0x5eed0123456789ab
NOBODY=65534

# Default run: seccomp and (where the kernel has it) Landlock in force.
default_on() {
	boot sb-default --kernel "$BZ" --cmdline "test=hello"
	want_success || return 1
	[ "$(stat .sandbox.seccomp)" = true ] || fail "sandbox.seccomp is $(stat .sandbox.seccomp)"
	if [ "$(stat .sandbox.landlock_abi)" -gt 0 ]; then
		[ "$(stat .sandbox.landlock)" = true ] || fail "Landlock ABI $(stat .sandbox.landlock_abi) but not in force"
	else
		[ "$(stat .sandbox.landlock_note)" != null ] || fail "no Landlock and no note saying why"
	fi
}

no_seccomp() {
	boot sb-off --no-seccomp --kernel "$BZ" --cmdline "test=hello"
	want_success && [ "$(stat .sandbox.seccomp)" = false ] ||
		fail "--no-seccomp: sandbox.seccomp is $(stat .sandbox.seccomp)"
}

# forbidden ROLE THREAD: that thread's execve ends vireo with status 4 and
# exactly one line on stderr naming the thread and execve.
forbidden() {
	local role=$1 thread=$2 err want
	want="vireo: sandbox: thread $thread made a forbidden system call: execve (59); stopping"
	VIREO=$VIREO_SAN VIREO_TEST_FORBIDDEN_SYSCALL=$role boot "sb-$role" --rng \
		--kernel "$BZ" --cmdline "test=hello"
	err=$(cat "$tmp/sb-$role.err")
	want_status 4 || return 1
	[ "$err" = "$want" ] || fail "stderr is '$err', want '$want'"
}
forbidden_vcpu() { forbidden vcpu vireo-vcpu0; }
forbidden_io() { forbidden io vireo-io0; }
forbidden_main() { forbidden main main; }

# Without the filter the same hook's execve fails (ENOENT) and the guest runs.
forbidden_without_seccomp() {
	VIREO=$VIREO_SAN VIREO_TEST_FORBIDDEN_SYSCALL=vcpu boot sb-hook-off --no-seccomp \
		--kernel "$BZ" --cmdline "test=hello"
	want_success
}

# A sanitizer's report still gets out of a filtered thread.
asan_report() {
	VIREO=$VIREO_SAN VIREO_TEST_ASAN_REPORT=io boot sb-asan --rng --kernel "$BZ" --cmdline "test=hello"
	grep -q "ERROR: AddressSanitizer: heap-buffer-overflow" "$tmp/sb-asan.err" ||
		fail "no ASan report on stderr: $(head -c 300 "$tmp/sb-asan.err")"
	grep -q "forbidden system call" "$tmp/sb-asan.err" &&
		fail "the sandbox stopped the report: $(grep forbidden "$tmp/sb-asan.err")"
	return 0
}

# The sanitized build ends a normal run cleanly under the filters: LSan's
# leak check at exit (gettid, sched_yield, a stop-the-world thread) is
# allowed, and no forbidden call turns the guest's status into 4 or makes
# the SIGSYS handler read the freed sandbox (both happened: an ASan
# use-after-free report whose exit status 1 looked like the guest's).
san_clean_exit() {
	san_clean_run hello && san_clean_run rng --rng
}
san_clean_run() { # TEST [vireo options...]
	local t=$1
	shift
	VIREO=$VIREO_SAN boot "sb-clean-$t" --kernel "$BZ" "$@" --cmdline "test=$t"
	want_success || return 1
	if grep -qE "Sanitizer|forbidden system call" "$tmp/sb-clean-$t.err"; then
		fail "$t: $(grep -m 2 -E "Sanitizer|forbidden system call" "$tmp/sb-clean-$t.err" | tr '\n' ' ')"
		return 1
	fi
}

# Landlock in force: once set-up is done, the main thread cannot open a file
# (test hook; seccomp off so that only Landlock can say no); with
# --no-landlock it can.
landlock_blocks_files() {
	local hook="vireo: test hook: open /etc/hostname"
	VIREO=$VIREO_SAN VIREO_TEST_OPEN=/etc/hostname boot sb-ll --no-seccomp --kernel "$BZ" \
		--cmdline "test=hello"
	want_success || return 1
	[ "$(stat .sandbox.landlock)" = true ] || {
		skip "Landlock not in force here: $(stat .sandbox.landlock_note)"
		return
	}
	grep -qx "$hook: Permission denied" "$tmp/sb-ll.err" ||
		fail "with Landlock: $(grep 'test hook' "$tmp/sb-ll.err")" || return 1
	VIREO=$VIREO_SAN VIREO_TEST_OPEN=/etc/hostname boot sb-noll --no-seccomp --no-landlock \
		--kernel "$BZ" --cmdline "test=hello"
	want_success && grep -qx "$hook: ok" "$tmp/sb-noll.err" ||
		fail "with --no-landlock: $(grep 'test hook' "$tmp/sb-noll.err")"
}

# Unprivileged, in an empty chroot: the guest boots, its disk works.
unprivileged() {
	local jail=$tmp/jail d=$tmp/u.img
	mkdir "$jail" && truncate -s 16M "$d"
	boot sb-uid-hello --uid $NOBODY --gid $NOBODY --chroot "$jail" --kernel "$BZ" --cmdline "test=hello"
	want_success || return 1
	[ "$(stat .sandbox.uid)/$(stat .sandbox.gid)/$(stat .sandbox.chroot)" = "$NOBODY/$NOBODY/$jail" ] ||
		fail "sandbox says $(jq -c .sandbox "$json")"
	boot sb-uid-blk --uid $NOBODY --gid $NOBODY --chroot "$jail" --disk "$d" \
		--kernel "$BZ" --cmdline "test=blk-verify seed=$SEED timeout_ms=60000"
	want_success && want_stat '.devices["virtio-blk0"].blk.io_errors' -eq 0
}

# While it runs: /proc shows the ids, no supplementary groups, and every
# fd but stdin/stdout/stderr is close-on-exec (fdinfo flags 02000000).
running_process() {
	local pid f flags leaky=""
	out=$tmp/sb-run.out json=$tmp/sb-run.json
	"$VIREO" run --quiet --stats-json "$json" --uid $NOBODY --gid $NOBODY --chroot "$tmp" \
		--rng --kernel "$BZ" --cmdline "test=timer count=100000000 timeout_ms=600000" \
		</dev/null >"$out" 2>"$tmp/sb-run.err" &
	pid=$!
	for _ in $(seq 600); do
		grep -q "tsc_khz=" "$out" && break
		sleep 0.1
	done
	grep -q "tsc_khz=" "$out" || { kill -KILL "$pid"; fail "guest did not come up"; return 1; }
	grep -Eq "^Uid:[[:space:]]+$NOBODY[[:space:]]+$NOBODY[[:space:]]+$NOBODY[[:space:]]+$NOBODY" "/proc/$pid/status" ||
		fail "$(grep ^Uid "/proc/$pid/status")"
	grep -Eq "^Groups:[[:space:]]*$" "/proc/$pid/status" || fail "$(grep ^Groups "/proc/$pid/status")"
	grep -Eq "^NoNewPrivs:[[:space:]]+1" "/proc/$pid/status" || fail "no_new_privs is off"
	grep -Eq "^Seccomp_filters:[[:space:]]+[1-9]" "/proc/$pid/status" || fail "no seccomp filter"
	for f in /proc/"$pid"/fdinfo/*; do
		case ${f##*/} in 0 | 1 | 2) continue ;; esac
		flags=$(sed -n 's/^flags:[[:space:]]*//p' "$f" 2>/dev/null)
		[ -n "$flags" ] && (((8#$flags & 8#2000000) == 0)) && leaky+=" ${f##*/}($(readlink "/proc/$pid/fd/${f##*/}"))"
	done
	[ -z "$leaky" ] || fail "fds without close-on-exec:$leaky"
	kill -TERM "$pid"
	wait "$pid"
	status=$?
	want_status 143 && [ "$(stat .sandbox.uid)" = $NOBODY ]
}

case_run "sandbox on by default (seccomp, Landlock)" default_on
case_run "--no-seccomp shows as off in the stats" no_seccomp
case_run "execve from a vCPU thread: stopped, one line, status 4" forbidden_vcpu
case_run "execve from an I/O thread: stopped, one line, status 4" forbidden_io
case_run "execve from the main thread: stopped, one line, status 4" forbidden_main
case_run "the test hook without seccomp: execve fails, guest runs" forbidden_without_seccomp
case_run "an ASan report gets out of a filtered thread" asan_report
case_run "the sanitized build exits cleanly under the filters (leak check, no report)" san_clean_exit
case_run "Landlock: no file opens after set-up (and with --no-landlock, they do)" landlock_blocks_files
case_run "--uid/--gid 65534 --chroot empty dir: hello and blk-verify" unprivileged
case_run "running vireo: uid, no groups, no_new_privs, filters, fds close-on-exec" running_process
