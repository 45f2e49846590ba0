#!/bin/bash
# make demo [ARCH=riscv64|aarch64|x86_64|loongarch64|hosted]
#
# Builds the bare-metal demo kernel of ARCH (default riscv64) into
# build/demo/<arch>/ and boots it under QEMU, printing the serial transcript
# as it comes.  The transcript decides: exit 0 only if it ends with
# "mmkit demo: PASS" AND QEMU's exit status is that arch's pass status
# (a crash must never read as a pass: a triple fault on x86 exits 0).
# ARCH=hosted runs the hosted demo (./build/mmkit-demo) instead.
#
# Environment (used by tests/qemu):
#   DEMO_KERNEL=<elf>     boot this kernel instead of kernel.elf (and
#                         only print the transcript: no verdict)
#   DEMO_QMP=<socket>     add a QMP socket (server, no wait)
#   DEMO_TIMEOUT=<secs>   QEMU's time limit (default 60)
#   DEMO_NO_BUILD=1       skip the build step
set -e
cd "$(dirname "$0")/.."
arch=${1:-riscv64}

if [ "$arch" = hosted ]; then
	[ -x ./build/mmkit-demo ] || { echo "demo: build/mmkit-demo missing (make build)" >&2; exit 1; }
	exec ./build/mmkit-demo
fi

case "$arch" in
riscv64 | aarch64 | x86_64 | loongarch64) ;;
*)
	echo "demo: unknown ARCH '$arch' (riscv64, aarch64, x86_64, loongarch64, hosted)" >&2
	exit 2
	;;
esac

need() { command -v "$1" >/dev/null 2>&1; }
if ! need clang || ! need ld.lld || ! need "qemu-system-$arch" ||
	{ [ "$arch" = loongarch64 ] && ! need clang-16; }; then
	tools/install-deps.sh demo
fi

if [ -z "$DEMO_NO_BUILD" ]; then
	if [ "$arch" = loongarch64 ]; then
		# Builds (once, ~1.5 min) and caches GNU ld for LoongArch.
		tools/loongarch-ld.sh >/dev/null
	fi
	make -s -C demo ARCH="$arch" -j"$(nproc)"
fi

kernel=${DEMO_KERNEL:-build/demo/$arch/kernel.elf}
timeout=${DEMO_TIMEOUT:-60}
extra=()
[ -n "$DEMO_QMP" ] && extra+=(-qmp "unix:$DEMO_QMP,server=on,wait=off")

# Per arch: the QEMU command and the exit status meaning "pass"
# (riscv64 sifive_test, aarch64 semihosting,
# x86_64 isa-debug-exit gives (v << 1) | 1, loongarch64 GED S5).
case "$arch" in
riscv64)
	# Svpbmt on, so the UART is mapped as I/O memory (PBMT=IO).
	qemu=(qemu-system-riscv64 -machine virt -cpu rv64,svpbmt=on -m 128M
		-bios default)
	pass=0
	;;
aarch64)
	qemu=(qemu-system-aarch64 -machine virt -cpu cortex-a72 -m 128M
		-semihosting)
	pass=0
	;;
x86_64)
	# SMEP and SMAP on (TCG has them; qemu64 lacks them): the user
	# phase turns them on and checks a kernel read of a user page traps.
	qemu=(qemu-system-x86_64 -machine q35 -cpu qemu64,+smep,+smap -m 128M -no-reboot
		-device isa-debug-exit,iobase=0xf4,iosize=0x04)
	pass=33
	;;
loongarch64)
	# Debian's 7.2.  Its LDPTE drops NX (the refill handler restores it)
	# and a PNX trap hangs it, as it does bookworm-backports' 10.0.2,
	# so the no-exec check reads the TLB there (demo/common/checks.c).
	qemu=(qemu-system-loongarch64 -machine virt -m 1G
		-device pvpanic-pci -action panic=exit-failure)
	pass=0
	;;
esac
cmd=(timeout -k 5 "$timeout" "${qemu[@]}" -nodefaults -display none
	-serial stdio "${extra[@]}" -kernel "$kernel")

if [ -n "$DEMO_KERNEL" ] || [ -n "$DEMO_QMP" ]; then
	exec "${cmd[@]}"
fi

log=build/demo/$arch/transcript.txt
echo "demo: booting $kernel: ${qemu[*]}"
set +e
"${cmd[@]}" </dev/null | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
	echo "demo: $arch FAIL: QEMU timed out after ${timeout}s (status $status)"
	exit 1
fi
if ! tr -d '\r' <"$log" | grep -qx "mmkit demo: PASS"; then
	echo "demo: $arch FAIL: no 'mmkit demo: PASS' in the transcript (QEMU status $status)"
	exit 1
fi
if [ "$status" != "$pass" ]; then
	echo "demo: $arch FAIL: transcript says PASS but QEMU exited $status, not $pass"
	exit 1
fi
echo "demo: $arch PASS (QEMU exit status $status)"
