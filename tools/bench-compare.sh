#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tools/bench-compare.sh A B [layer]
#
# Builds mmkit-bench at commits A and B (each from `git archive` into its
# own source and build folder under build-compare/), runs the two
# alternately in one sitting -- A B, then B A, and so on, so that a drift of
# the machine hits both alike -- for $MMK_COMPARE_ROUNDS rounds (default 5),
# and prints each metric's median for A and B and the ratio B/A.  A third
# argument is passed through as `-f <layer>` (e.g. pt).
#
# Lower is better for time units (ns/...), higher for rates (.../s); the
# last column says "worse" where B loses more than $MMK_COMPARE_TOLERANCE
# percent (default 5) on the medians.  The minima are printed too: on a
# shared machine the runs are often bimodal (a run that lost its CPU
# half-way), and the fastest run of each side is then the steadier
# comparison.  Each run's JSON lines stay in
# build-compare/runs/<commit>-<round>.json; MMK_COMPARE_REPORT_ONLY=1
# prints the table again from them without building or running.
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 A B [layer]" >&2
	exit 2
fi
root=$(git rev-parse --show-toplevel)
out="$root/build-compare"
rounds=${MMK_COMPARE_ROUNDS:-5}
tol=${MMK_COMPARE_TOLERANCE:-5}
filter=${3:-}
a=$(git -C "$root" rev-parse --short=12 "$1^{commit}")
b=$(git -C "$root" rev-parse --short=12 "$2^{commit}")

build() { # commit -> path of its mmkit-bench
	src="$out/src-$1"
	bld="$out/build-$1"
	if [ ! -f "$src/CMakeLists.txt" ]; then
		rm -rf "$src"
		mkdir -p "$src"
		git -C "$root" archive "$1" | tar -x -C "$src"
	fi
	cmake -S "$src" -B "$bld" -G Ninja -DCMAKE_C_COMPILER=gcc \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$bld" --target mmkit-bench >/dev/null
}

if [ "${MMK_COMPARE_REPORT_ONLY:-0}" != 1 ]; then
echo "building $a and $b under $out" >&2
build "$a"
build "$b"
mkdir -p "$out/runs"

run() { # commit round
	set -- "$1" "$2" "$out/runs/$1-$2.json"
	if [ -n "$filter" ]; then
		"$out/build-$1/mmkit-bench" -o "$3" -f "$filter" >/dev/null
	else
		"$out/build-$1/mmkit-bench" -o "$3" >/dev/null
	fi
}

r=1
while [ "$r" -le "$rounds" ]; do
	echo "round $r/$rounds" >&2
	if [ $((r % 2)) -eq 1 ]; then
		run "$a" "$r"
		run "$b" "$r"
	else
		run "$b" "$r"
		run "$a" "$r"
	fi
	r=$((r + 1))
done
fi

python3 - "$out/runs" "$a" "$b" "$rounds" "$tol" <<'PY'
import json, os, statistics, sys
runs, a, b, rounds, tol = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
def load(commit):
    vals, units, order = {}, {}, []
    for r in range(1, rounds + 1):
        with open(os.path.join(runs, "%s-%d.json" % (commit, r))) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                j = json.loads(line)
                key = (j["metric"], j.get("arch", "-"))
                if key not in vals:
                    vals[key] = []
                    order.append(key)
                vals[key].append(j["value"])
                units[key] = j.get("unit", "")
    return vals, units, order
va, ua, oa = load(a)
vb, ub, ob = load(b)
print("%-26s %-8s %-8s %10s %10s %6s  %9s %9s %6s" % ("metric", "arch", "unit", "med " + a[:5], "med " + b[:5], "B/A", "min " + a[:5], "min " + b[:5], "B/A"))
worse = 0
for key in oa + [k for k in ob if k not in va]:
    ma = statistics.median(va[key]) if key in va else None
    mb = statistics.median(vb[key]) if key in vb else None
    unit = ua.get(key) or ub.get(key, "")
    ratio = mb / ma if ma and mb is not None else None
    note = ""
    if ratio is not None:
        higher_better = unit.endswith("/s")
        loss = (1 / ratio if higher_better else ratio) - 1 if ratio else 0
        if loss * 100 > tol:
            note = "worse"
            worse += 1
    mina = min(va[key]) if key in va else None
    minb = min(vb[key]) if key in vb else None
    rmin = minb / mina if mina and minb is not None else None
    fmt = lambda v, w: ("%" + str(w) + ".3f") % v if v is not None else ("%" + str(w) + "s") % "-"
    rat = lambda v: "%6.3f" % v if v is not None else "%6s" % "-"
    print("%-26s %-8s %-8s %s %s %s  %s %s %s %s" % (key[0], key[1], unit, fmt(ma, 10), fmt(mb, 10),
          rat(ratio), fmt(mina, 9), fmt(minb, 9), rat(rmin), note))
print("%d metric(s) more than %g%% worse in %s than in %s (medians of %d rounds)" % (worse, tol, b, a, rounds))
PY
