#!/bin/sh
# Build test_cxx.cpp with a second C++ compiler (clang++ when CMake's is
# g++, and the reverse), link it against the core and hosted HAL the first
# one built, and run it: the headers and the C linkage hold for both.
# Usage: other-cxx.sh <c++ compiler> <out dir> <test_cxx.cpp> <defines> \
#                     <include dirs> <archives>
#   defines, include dirs, archives: ';'-separated lists (from CMake)
set -eu
cxx=$1 out=$2 src=$3 defs=$4 incs=$5 libs=$6
mkdir -p "$out"
flags=""
oldifs=$IFS
IFS=';'
for d in $defs; do flags="$flags -D$d"; done
for i in $incs; do flags="$flags -I$i"; done
archives=""
for l in $libs; do archives="$archives $l"; done
IFS=$oldifs
set -x
# shellcheck disable=SC2086
"$cxx" -std=c++17 -Wall -Wextra -Werror -D_GNU_SOURCE $flags \
	-c "$src" -o "$out/test_cxx_other.o"
# shellcheck disable=SC2086
"$cxx" -o "$out/test_cxx_other" "$out/test_cxx_other.o" \
	-Wl,--start-group $archives -Wl,--end-group -lcmocka -lpthread
"$out/test_cxx_other"
