#!/bin/sh
# Print the path of a LoongArch GNU ld, building it once when missing.
#
# Debian 12 has no LoongArch linker (lld-16 has no LoongArch backend), so we
# build GNU ld from Debian's own binutils 2.40 source package, configured for
# loongarch64-linux-gnu alone (binutils supports LoongArch since 2.38).  The result is
# cached outside the build tree so later runs and clean clones reuse it:
#   $MMKIT_CACHE (default /var/cache/mmkit)/binutils-loongarch64/bin/loongarch64-linux-gnu-ld
# Takes about 1.5 minutes on a 2-core machine the first time; concurrent
# callers wait on a lock instead of building twice.
set -e
cache=${MMKIT_CACHE:-/var/cache/mmkit}
prefix=$cache/binutils-loongarch64
ld=$prefix/bin/loongarch64-linux-gnu-ld
if [ -x "$ld" ]; then
	echo "$ld"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/binutils-loongarch64.lock"
flock 9
if [ -x "$ld" ]; then
	echo "$ld"
	exit 0
fi
log() { echo "loongarch-ld: $*" >&2; }
if [ "${MMK_NO_INSTALL:-0}" = 1 ]; then
	log "MMK_NO_INSTALL=1: not building the LoongArch GNU ld ($ld missing);"
	log "the loongarch64 demo and its QEMU test need it"
	exit 1
fi
log "building a LoongArch GNU ld from Debian's binutils source into $prefix"
log "(the loongarch64 demo kernel needs it; set MMK_NO_INSTALL=1 to skip)"
if [ "$(id -u)" != 0 ]; then
	log "need root to build the LoongArch linker into $prefix"
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
need=""
for p in gcc g++ make; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		need="$need $p"
done
srclist=/etc/apt/sources.list.d/mmkit-deb-src.sources
updated=0
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
	! grep -qs '^deb-src .*bookworm' /etc/apt/sources.list; then
	log "adding a deb-src line for bookworm ($srclist)"
	cat >"$srclist" <<EOT
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
	apt-get update -qq >&2
	updated=1
fi
if [ -n "$need" ]; then
	log "installing$need"
	[ $updated = 1 ] || apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends $need >&2
fi
work=$cache/binutils-src
rm -rf "$work"
mkdir -p "$work"
log "fetching Debian's binutils source package"
(cd "$work" && apt-get source --download-only binutils >&2)
tarball=$(ls "$work"/binutils_*.orig.tar.* | head -n 1)
[ -n "$tarball" ] || { log "no binutils orig tarball"; exit 1; }
log "unpacking $(basename "$tarball")"
(cd "$work" && tar xf "$tarball")
src=$(ls -d "$work"/binutils-*/ | head -n 1)
# Debian's orig tarball may wrap the upstream tarball.
if [ ! -x "$src/configure" ]; then
	inner=$(ls "$src"/binutils-*.tar.* 2>/dev/null | head -n 1)
	[ -n "$inner" ] || { log "cannot find binutils sources in $src"; exit 1; }
	(cd "$work" && tar xf "$inner")
	src=$(ls -d "$work"/binutils-2*/ | grep -v "^$src\$" | head -n 1)
fi
mkdir -p "$work/build"
log "configuring (about 40 s)"
(cd "$work/build" && "$src/configure" --target=loongarch64-linux-gnu \
	--prefix="$prefix" --disable-nls --disable-werror --disable-gdb \
	--disable-gdbserver --disable-sim --disable-gprofng >"$work/configure.log" 2>&1) ||
	{ tail -n 30 "$work/configure.log" >&2; exit 1; }
log "building ld, gas, binutils (about 50 s)"
(cd "$work/build" && make -j"$(nproc)" MAKEINFO=true all-ld all-gas all-binutils >"$work/build.log" 2>&1 &&
	make MAKEINFO=true install-ld install-gas install-binutils >"$work/install.log" 2>&1) ||
	{ tail -n 30 "$work/build.log" "$work/install.log" >&2; exit 1; }
[ -x "$ld" ] || { log "build finished but $ld is missing"; exit 1; }
rm -rf "$work"
log "cached $ld"
echo "$ld"
