#!/bin/sh
# Every public header is ready for C++ users, also in what the per-header
# compile cannot see (macros nobody expands there):
#  1. it wraps its declarations in  #ifdef __cplusplus / extern "C" { ... }
#  2. outside comments, it uses no C-only construct: _Atomic, _Noreturn,
#     _Static_assert, _Thread_local, _Alignas, _Alignof, _Generic, restrict,
#     compound literals "(type){", designated initializers "{ .field".
#     atomic.h and types.h are the two places that spell the C forms, in
#     their C branches, behind the portable macros.
# Usage: tests/cxx/check-headers.sh <include/mmkit directory>
set -eu
dir=$1
fail=0
n=0
for h in "$dir"/*.h; do
	n=$((n + 1))
	b=$(basename "$h")
	if ! grep -q '^extern "C" {$' "$h" || ! grep -q '^#ifdef __cplusplus$' "$h"; then
		echo "FAIL: $b has no #ifdef __cplusplus / extern \"C\" { guard"
		fail=1
	fi
	case "$b" in atomic.h | types.h) continue ;; esac
	# drop /* */ and // comments, keep line numbers
	bad=$(awk '{
		line = $0; out = "";
		while (line != "") {
			if (inc) {
				i = index(line, "*/");
				if (i) { line = substr(line, i + 2); inc = 0 } else line = "";
			} else {
				i = index(line, "/*"); j = index(line, "//");
				if (j && (!i || j < i)) { out = out substr(line, 1, j - 1); line = "" }
				else if (i) { out = out substr(line, 1, i - 1); line = substr(line, i + 2); inc = 1 }
				else { out = out line; line = "" }
			}
		}
		print NR ": " out
	}' "$h" | grep -E '(^|[^A-Za-z0-9_])(_Atomic|_Noreturn|_Static_assert|_Thread_local|_Alignas|_Alignof|_Generic|restrict)([^A-Za-z0-9_]|$)|\((struct +[A-Za-z0-9_]+|[A-Za-z0-9_]+_t)\) *\{|\{ *\.[A-Za-z_]' || true)
	if [ -n "$bad" ]; then
		echo "FAIL: $b uses C-only constructs C++ cannot read:"
		echo "$bad" | sed 's/^/  /'
		fail=1
	fi
done
[ $fail = 0 ] && echo "check-headers: $n public headers, extern \"C\" and C++-clean: OK"
exit $fail
