#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/mmkit-maps on the layout dumps of tests/tools/maps_dump.c.

usage: test_maps.py MMKIT_MAPS MAPS_DUMP WORKDIR

maps_dump writes a serial-console transcript with three dumps (before a
fork, the parent and the child after it) and mmk_aspace_dump_maps of the
same spaces.  Checked: --list finds the three, --maps of each is
mmk_aspace_dump_maps's text byte for byte, the first dump is the default,
the SVG parses as XML with one area element per area coloured by its
backend, populated/lazy/huge runs and the shared-leaf marks where the dump
says (none before the fork), one square per page-table page; malformed
input exits with status 2 and says what is wrong.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

TOOL, DUMPER, WORK = sys.argv[1:4]
NS = "{http://www.w3.org/2000/svg}"
COLORS = {"alloc": "#4e79a7", "linear": "#f28e2b", "huge": "#e15759",
          "shared": "#76b7b2", "guard": "#bab0ac"}
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def run(args, stdin=None):
    p = subprocess.run([TOOL] + args, input=stdin, capture_output=True)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


os.makedirs(WORK, exist_ok=True)
subprocess.run([DUMPER, WORK], check=True)
transcript = os.path.join(WORK, "transcript.txt")
raw = open(transcript, "rb").read()
check(b"\r\n" in raw and b"[uart] MMKIT-MAPS-BEGIN" in raw,
      "the transcript looks like a serial console")

# --list, --maps per name, the default dump
rc, out, err = run(["--list", transcript])
check(rc == 0 and out.split() == ["before", "parent", "child"],
      f"--list: {rc} {out!r} {err}")
for name in ("before", "parent", "child"):
    want = open(os.path.join(WORK, name + ".maps")).read()
    rc, out, err = run(["--maps", "--name", name, transcript])
    check(rc == 0 and out == want,
          f"--maps --name {name} differs from mmk_aspace_dump_maps:\n"
          f"{out}\n-- want --\n{want}\n{err}")
rc, out, _ = run([], stdin=raw)  # stdin, no name: the first, --maps
check(rc == 0 and out == open(os.path.join(WORK, "before.maps")).read(),
      "default: the first dump's maps from stdin")


def dump_records(name):
    """The records of dump @name, as the tool should read them."""
    text = raw.decode().replace("\r\n", "\n")
    body = text.split("MMKIT-MAPS-BEGIN " + name + "\n", 1)[1]
    body = body.split("MMKIT-MAPS-END", 1)[0]
    recs = []
    for line in body.splitlines():
        line = line.removeprefix("[uart] ")
        if line.split(" ")[0] in ("area", "run", "tables"):
            recs.append(line.split(" "))
    return recs


for name in ("before", "parent", "child"):
    svg = os.path.join(WORK, name + ".svg")
    rc, out, err = run(["--name", name, "--svg", svg, transcript])
    check(rc == 0 and out == "", f"--svg {name}: {rc} {err}")
    root = ET.parse(svg).getroot()
    check(root.tag == NS + "svg", f"{name}: root element is svg")
    recs = dump_records(name)
    areas = [r for r in recs if r[0] == "area"]
    runs = [r for r in recs if r[0] == "run"]
    groups = [g for g in root.iter(NS + "g")
              if g.get("class") == "area"]
    check(len(groups) == len(areas),
          f"{name}: {len(groups)} area elements for {len(areas)} areas")
    for g, a in zip(groups, areas):
        start, end = a[1].split("-")
        check(int(g.get("data-start"), 16) == int(start, 16) and
              int(g.get("data-end"), 16) == int(end, 16),
              f"{name}: area element {g.get('id')} is {a[1]}")
        box = [r for r in g.iter(NS + "rect")
               if r.get("class") == "area-box"]
        check(len(box) == 1 and box[0].get("fill") == COLORS[a[5]],
              f"{name}: area {a[1]} ({a[5]}) coloured "
              f"{box[0].get('fill') if box else None}")
    classes = [g.get("class") for g in root.iter(NS + "g")
               if (g.get("class") or "").startswith("run")]
    check(len(classes) == len(runs), f"{name}: one element per run")
    check(classes.count("run pop huge") ==
          sum(1 for r in runs if r[2] == "pop" and int(r[3], 16) > 0x1000),
          f"{name}: huge runs marked")
    check(classes.count("run lazy") == sum(1 for r in runs if r[2] == "lazy"),
          f"{name}: lazy runs marked")
    marks = [r for r in root.iter(NS + "rect")
             if r.get("class") == "shared-leaf"]
    nshared = sum(1 for r in runs if r[5] == "shared")
    check(len(marks) == nshared, f"{name}: {len(marks)} shared-leaf marks "
          f"for {nshared} shared runs")
    if name == "before":
        check(nshared == 0, "before the fork nothing is shared")
    else:
        check(nshared > 0, f"{name}: the fork shares leaf tables")
    tables = [r for r in recs if r[0] == "tables"][0]
    npages = sum(int(t.split(":")[0]) for t in tables[2:-2])
    squares = [r for r in root.iter(NS + "rect")
               if (r.get("class") or "").startswith("pt-page")]
    check(len(squares) == npages,
          f"{name}: {len(squares)} table squares for {npages} table pages")
    check(sum(1 for r in squares if r.get("class") == "pt-page shared")
          == int(tables[-1]), f"{name}: shared leaf tables marked")
    check("Page tables: %d pages" % npages in open(svg).read(),
          f"{name}: page-table cost written")

# Malformed input: exit status 2 and a message that says what is wrong.
good = [l.removeprefix("[uart] ") for l in
        raw.decode().replace("\r\n", "\n").split("\n")]
b = good.index("MMKIT-MAPS-BEGIN before")
e = good.index("MMKIT-MAPS-END", b)
dump = [l for l in good[b:e + 1] if not l.startswith("proc 2")]


def mutate(fn):
    d = list(dump)
    fn(d)
    return ("\n".join(d) + "\n").encode()


def first(d, kw):
    return next(i for i, l in enumerate(d) if l.startswith(kw + " "))


def replace_field(kw, field, value):
    def f(d):
        i = first(d, kw)
        parts = d[i].split(" ")
        parts[field] = value
        d[i] = " ".join(parts)
    return f


def drop_last_area(d):
    i = max(i for i, l in enumerate(d) if l.startswith("area "))
    j = first(d, "tables")
    del d[i:j]


bad_cases = [
    ("no dump", b"hello\nworld\n", "no MMKIT-MAPS-BEGIN"),
    ("cut short", mutate(lambda d: d.__delitem__(slice(len(d) - 4, None))),
     "no MMKIT-MAPS-END"),
    ("lost run", mutate(lambda d: d.pop(first(d, "run") + 1)),
     "does not continue"),
    ("lost area line", mutate(lambda d: d.pop(first(d, "area"))),
     "'run' outside an area"),
    ("lost area and its runs", mutate(drop_last_area), "total says"),
    ("version 2", mutate(replace_field("format", 1, "2")),
     "version 2 not supported"),
    ("bad hex", mutate(replace_field("area", 1, "4000zz-410000")),
     "hex number expected"),
    ("bad perms", mutate(replace_field("area", 2, "rwxq")),
     "bad area permissions"),
    ("bad kind", mutate(replace_field("run", 2, "maybe")), "bad run kind"),
    ("missing field", mutate(lambda d: d.__setitem__(
        first(d, "run"), d[first(d, "run")].rsplit(" ", 1)[0])),
     "'run' needs 5 fields"),
    ("tables count", mutate(replace_field("tables", 1, "3")),
     "needs 3 <pages>:<bytes>"),
    ("error line", mutate(lambda d: d.insert(2, "error -12")),
     "reports an error"),
    ("no format", mutate(lambda d: d.pop(1)), "before the 'format' line"),
]
for what, data, msg in bad_cases:
    rc, out, err = run(["--maps"], stdin=data)
    check(rc == 2 and msg in err and err.startswith("mmkit-maps: "),
          f"malformed ({what}): status {rc}, {err.strip()!r}")
rc, _, err = run(["--name", "nope", transcript])
check(rc == 2 and "no dump named 'nope'" in err, f"unknown name: {rc} {err}")
rc, _, err = run(["--bogus"])
check(rc == 1 and "usage" in err, "usage error: status 1")
# a clean dump from the mutation helper itself is accepted
rc, out, _ = run(["--maps"], stdin=mutate(lambda d: None))
check(rc == 0 and out == open(os.path.join(WORK, "before.maps")).read(),
      "the unprefixed, \\n-only dump reads the same")

# the form the demo kernels are to print (each line behind "MMKIT-MAPS ",
# which tests/qemu/run_demo.py's transcript check can drop)
kernel = b"".join(b"MMKIT-MAPS " + l.removeprefix(b"[uart] ") + b"\n"
                  if l.startswith(b"[uart] MMKIT-MAPS") or
                  l.startswith(b"[uart] ") and b"proc 2" not in l else l + b"\n"
                  for l in raw.split(b"\r\n"))
rc, out, err = run(["--name", "child"], stdin=kernel)
check(rc == 0 and out == open(os.path.join(WORK, "child.maps")).read(),
      f"MMKIT-MAPS-prefixed lines: {rc} {err}")

# Random damage (a fixed seed): every result is a clean 0 or 2, never a
# crash (the ASan build runs this too).
import random
rng = random.Random(15)
base = mutate(lambda d: None)
for i in range(300):
    b = bytearray(base)
    for _ in range(rng.randint(1, 4)):
        k = rng.randrange(4)
        at = rng.randrange(len(b))
        if k == 0:
            b[at] = rng.choice(b"0123456789abcdefxyz-: \n\r")
        elif k == 1:
            del b[at:at + rng.randint(1, 40)]
        elif k == 2:
            b[at:at] = bytes(rng.choice(b"0f- :\n") for _ in range(8))
        else:
            b = b[:at]
    rc, out, err = run(["--svg", os.path.join(WORK, "fuzz.svg")],
                       stdin=bytes(b))
    if rc not in (0, 2) or (rc == 2 and not err.startswith("mmkit-maps: ")):
        check(False, f"damaged input {i}: status {rc}, {err[-300:]!r}")
        break
    if rc == 0:
        ET.parse(os.path.join(WORK, "fuzz.svg"))

print("test_maps: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
