#!/bin/sh
# Install the Debian packages mmkit's build, tests, benchmark and demos need,
# only those missing.  Runs as root without prompting; does nothing when all
# are present.  Usage: tools/install-deps.sh [test|bench|demo|lint]...
set -e
want="cmake ninja-build gcc clang lld libcmocka-dev python3 binutils"
for what in "$@"; do
	case "$what" in
	test) want="$want clang-16 lld-16 llvm qemu-system-x86 qemu-system-arm qemu-system-misc" ;;
	bench) want="$want libjemalloc-dev libmimalloc-dev" ;;
	demo) want="$want qemu-system-x86 qemu-system-arm qemu-system-misc clang-16" ;;
	lint) want="$want cppcheck clang-tidy" ;;
	esac
done
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
