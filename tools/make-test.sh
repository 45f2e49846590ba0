#!/bin/bash
# `make test`: run every stage, each under a banner, even when an earlier one
# failed, then print a summary naming the failed stages and tests and how to
# rerun one.  Exits non-zero if anything failed.  Each stage is a make target
# of the Makefile (so `make test-asan` runs one stage alone).
#   stage  make target   tree         what
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
stages=(
	"gcc   test-normal build       gcc build, every ctest suite but label build (unit, threads, QEMU demos)"
	"build test-build  build       ways in (ctest label build): freestanding GCC/clang, mmkit.mk, add_subdirectory, install, stack depth"
	"asan  test-asan   build-asan  clang ASan+UBSan build, every unit suite"
	"tsan  test-tsan   build-tsan  clang ThreadSanitizer build, the threaded suites (label tsan)"
	"clang test-clang  build-clang clang build of everything, warnings as errors, no tests run"
)
failed_stages=()
failed_tests=()
start_all=$(date +%s)
for s in "${stages[@]}"; do
	read -r name target tree what <<<"$s"
	printf '\n==================================================================\n'
	printf '== make test: stage %s (make %s)\n== %s\n' "$name" "$target" "$what"
	printf '==================================================================\n'
	log=$tree/Testing/Temporary/LastTestsFailed.log
	rm -f "$log"
	t0=$(date +%s)
	if $MAKE --no-print-directory "$target"; then
		rc=0
	else
		rc=$?
	fi
	t1=$(date +%s)
	if [ $rc = 0 ]; then
		echo "== stage $name: passed ($((t1 - t0)) s)"
	else
		echo "== stage $name: FAILED (exit $rc, $((t1 - t0)) s)"
		failed_stages+=("$name")
		if [ -f "$log" ]; then
			while IFS=: read -r _ test; do
				failed_tests+=("$tree $test")
			done <"$log"
		fi
	fi
done

printf '\n==================================================================\n'
printf '== make test: summary (%d s)\n' "$(($(date +%s) - start_all))"
printf '==================================================================\n'
for s in "${stages[@]}"; do
	read -r name target _ <<<"$s"
	state=passed
	for f in "${failed_stages[@]+"${failed_stages[@]}"}"; do
		[ "$f" = "$name" ] && state=FAILED
	done
	printf '  %-6s %-7s make %s\n' "$name" "$state" "$target"
done
if [ ${#failed_stages[@]} = 0 ]; then
	echo "make test: all stages passed"
	exit 0
fi
if [ ${#failed_tests[@]} != 0 ]; then
	echo "failed tests (rerun one with the command beside it):"
	for t in "${failed_tests[@]}"; do
		read -r tree test <<<"$t"
		printf '  %-32s ctest --test-dir %s -R %s --output-on-failure\n' \
			"$test" "$tree" "'^$test\$'"
	done
fi
echo "make test: FAILED stages: ${failed_stages[*]} (rerun a stage with the make target above)"
exit 1
