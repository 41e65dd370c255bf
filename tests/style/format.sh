#!/usr/bin/env bash
# tests/style/format.sh -- every C source and header the repository tracks is
# formatted as .clang-format says (`make format` fixes it).
cd "$(dirname "$0")/../.."
if ! command -v clang-format >/dev/null; then
	echo "SKIP: sources are clang-formatted: no clang-format"
	exit 0
fi
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
if [ -z "$files" ]; then
	echo "SKIP: sources are clang-formatted: not a git checkout"
	exit 0
fi
# shellcheck disable=SC2086
if out=$(clang-format --dry-run -Werror $files 2>&1); then
	echo "PASS: sources are clang-formatted"
else
	echo "FAIL: sources are clang-formatted: $(grep -c 'error:' <<<"$out") places; first: $(head -n 1 <<<"$out") (run make format)"
fi
