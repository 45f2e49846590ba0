#!/bin/sh
# Test build_meson: a Meson project that takes mmkit as a subproject
# (meson/meson.build) builds and its kernel-like program runs.
# Usage: meson-test.sh <mmkit tree> <scratch dir>
set -eu
for t in meson ninja; do
	command -v $t >/dev/null || { echo "build_meson: $t missing (tools/install-deps.sh test installs it)"; exit 1; }
done
root=$1
work=$2
rm -rf "$work"
mkdir -p "$work/src/subprojects"
cp "$root/tests/build/meson/meson.build" "$work/src/"
ln -s "$root/tests/build/kmake" "$work/src/kmake"
ln -s "$root" "$work/src/subprojects/mmkit"
meson setup "$work/build" "$work/src" >"$work/setup.log" 2>&1 || { cat "$work/setup.log"; exit 1; }
ninja -C "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/build/kernel"
