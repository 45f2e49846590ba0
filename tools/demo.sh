#!/bin/sh
# make demo [ARCH=...]: the hosted demo until the QEMU demo kernels exist.
set -e
cd "$(dirname "$0")/.."
exec ./build/mmkit-demo
