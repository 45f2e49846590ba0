#!/bin/sh
# Print the qemu-system-loongarch64 the demo uses, fetching it once.
#
# QEMU 7.2 (Debian 12) cannot run the no-exec check on LoongArch: its LDPTE
# drops the NX bit of a PTE, and a fetch-permission exception hangs it
# (../shared/REFERENCES.md 4c).  bookworm-backports carries QEMU 10, with
# both fixed.  Installing it would replace the 7.2 QEMU every other
# architecture uses (qemu-system-common is shared), so its packages are
# only unpacked into a private prefix, cached outside the build tree:
#   $MMKIT_CACHE (default /var/cache/mmkit)/qemu-bpo/root/usr/bin/
# Run the binary through tools/qemu-loongarch.sh --exec ARGS... so that it
# finds its own data and modules.
set -e
cache=${MMKIT_CACHE:-/var/cache/mmkit}
dir=$cache/qemu-bpo
bin=$dir/root/usr/bin/qemu-system-loongarch64
log() { echo "qemu-loongarch: $*" >&2; }
if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	exec 9>"$dir.lock"
	flock 9
	if [ ! -x "$bin" ]; then
		if [ "$(id -u)" != 0 ]; then
			log "need root to fetch QEMU 10 from bookworm-backports"
			exit 1
		fi
		src=/etc/apt/sources.list.d/mmkit-backports.sources
		if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
			log "adding bookworm-backports ($src; default priority, nothing upgrades from it)"
			cat >"$src" <<EOT
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
		fi
		apt-get update -qq >&2
		rm -rf "$dir/debs" "$dir/root"
		mkdir -p "$dir/debs" "$dir/root"
		log "downloading qemu-system-misc/-common/-data from bookworm-backports"
		(cd "$dir/debs" && apt-get download -t bookworm-backports \
			qemu-system-misc qemu-system-common qemu-system-data >&2)
		for d in "$dir"/debs/*.deb; do dpkg -x "$d" "$dir/root"; done
		rm -rf "$dir/debs"
		missing=$(ldd "$bin" | awk '/not found/ {print $1}')
		if [ -n "$missing" ]; then
			log "libraries missing for QEMU 10: $missing"
			exit 1
		fi
	fi
fi
if [ "$1" = "--exec" ]; then
	shift
	QEMU_MODULE_DIR=$dir/root/usr/lib/x86_64-linux-gnu/qemu
	export QEMU_MODULE_DIR
	exec "$bin" -L "$dir/root/usr/share/qemu" "$@"
fi
echo "$bin"
