#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Worst-case stack depth of every public mmkit call.

Builds the core (every src/<layer>/*.c and src/arch/*/*.c) with GCC's
-fstack-usage and -fcallgraph-info=su, which give each function's own frame
and its direct calls, and adds the indirect calls: an indirect call (a
backend or memory-set callback) may reach any function of the core whose
address is taken (found from the objects' relocations that are not calls).
The depth of a function is its frame plus the deepest of its callees;
functions outside the core (the HAL, memset/memcpy, a kernel's callbacks)
count 0 and are named in the table's notes.  A function on a call cycle, or
with a dynamic frame (alloca, VLA), has no bound and is reported as such.

Prints a table of every public function (mmk_* but not mmk__*) and checks
the calls a page fault or a memory system call makes (mmk_aspace_map*,
_unmap*, _protect*, *fault*, _read*, _write*, _populate*, _sync*) against
--limit.  With --report-only a call over the limit is reported but the exit
status stays 0, unless it is over --ceiling too (a regression guard).

Usage: tools/stack-depth.py --limit 1024 [--report-only] [--ceiling N]
                            [--cc gcc]
                            [--target x86_64|riscv64|aarch64] [--out DIR]
                            [--markdown FILE]
"""
import argparse
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TARGETS = {
    # target: (default compiler, flags: a kernel's, as tools/check-freestanding.sh)
    "x86_64": ("gcc", ["-m64", "-mcmodel=kernel", "-mno-red-zone",
                       "-mgeneral-regs-only"]),
    "riscv64": ("riscv64-linux-gnu-gcc", ["-march=rv64imac", "-mabi=lp64",
                                          "-mcmodel=medany"]),
    "aarch64": ("aarch64-linux-gnu-gcc", ["-mgeneral-regs-only",
                                          "-mno-outline-atomics"]),
}

# Relocation types that are calls or jumps (anything else naming a function
# takes its address).
CALL_RELOCS = {"R_X86_64_PLT32", "R_RISCV_CALL", "R_RISCV_CALL_PLT",
               "R_AARCH64_CALL26", "R_AARCH64_JUMP26", "R_RISCV_JAL",
               "R_RISCV_BRANCH", "R_RISCV_RVC_JUMP", "R_RISCV_RVC_BRANCH"}

# The calls a fault or a memory system call makes.
SYSCALL_PATH = re.compile(
    r"^mmk_aspace_(map\w*|unmap\w*|protect\w*|\w*fault\w*|read\w*|write\w*|"
    r"populate\w*|sync\w*)$")


def sources():
    srcs = []
    for d in sorted(glob.glob(os.path.join(ROOT, "src", "*"))):
        if os.path.basename(d) != "arch":
            srcs += sorted(glob.glob(os.path.join(d, "*.c")))
    srcs += sorted(glob.glob(os.path.join(ROOT, "src", "arch", "*", "*.c")))
    return srcs


def build(cc, flags, out):
    os.makedirs(out, exist_ok=True)
    objs = []
    for src in sources():
        rel = os.path.relpath(src, ROOT)
        base = os.path.join(out, rel.replace("/", "_")[:-2])
        obj = base + ".o"
        cmd = [cc] + flags + [
            "-std=c11", "-O2", "-ffreestanding", "-fno-pic",
            "-fno-asynchronous-unwind-tables", "-ffunction-sections",
            "-fstack-usage", "-fcallgraph-info=su",
            "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "src"),
            "-c", src, "-o", obj]
        # -fcallgraph-info names its output after -o (base.ci).
        subprocess.run(cmd, check=True)
        objs.append((src, base))
    return objs


NODE = re.compile(r'^node: \{ title: "([^"]+)" label: "([^"]*)"')
EDGE = re.compile(r'^edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
FRAME = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


EDGE_LABEL = re.compile(r'label: "([^"]+):(\d+):(\d+)"')


def parse_ci(path, src, funcs, edges, sites):
    """funcs: title -> (frame, kind, file); edges: title -> set of titles;
    sites: title -> set of (file, line, column) of its indirect calls."""
    with open(path) as f:
        for line in f:
            m = NODE.match(line)
            if m:
                title, label = m.groups()
                fm = FRAME.search(label)
                if fm:  # defined here (callees without a frame are externs)
                    funcs[title] = (int(fm.group(1)), fm.group(2), src)
                continue
            m = EDGE.match(line)
            if m:
                edges.setdefault(m.group(1), set()).add(m.group(2))
                lm = EDGE_LABEL.search(line)
                if m.group(2) == "__indirect_call" and lm:
                    sites.setdefault(m.group(1), set()).add(
                        (lm.group(1), int(lm.group(2)), int(lm.group(3))))


def address_taken(objs, funcs, readelf):
    """Titles of core functions whose address is taken anywhere."""
    taken = set()
    for src, base in objs:
        text = subprocess.run([readelf, "-rW", base + ".o"], check=True,
                              capture_output=True, text=True).stdout
        section = ""
        for line in text.splitlines():
            m = re.match(r"^Relocation section '([^']+)'", line)
            if m:
                section = m.group(1)
                continue
            if re.match(r"^\.rela?\.(debug|eh_frame|note|comment)", section):
                continue
            parts = line.split()
            if len(parts) < 5 or not re.match(r"^[0-9a-f]+$", parts[0]):
                continue
            rtype, sym = parts[2], parts[4]
            addend = parts[6] if len(parts) >= 7 and parts[5] in "+-" else "0"
            if rtype in CALL_RELOCS:
                continue
            if sym.startswith(".text."):
                # A function's own section (-ffunction-sections): its
                # start is its address; other offsets are jump tables.
                if int(addend, 16) != 0:
                    continue
                name = sym[len(".text."):]
            else:
                name = sym
            static = src + ":" + name
            if static in funcs:
                taken.add(static)
            elif name in funcs:
                taken.add(name)
    return taken


INIT = re.compile(r"\.(\w+)\s*=\s*&?(\w+)\s*[,}]")
CALLEE = re.compile(r"^(?:[\w\[\]]+(?:\([^()]*\))?\s*(?:->|\.)\s*)*(\w+)\s*\(")


def initializers():
    """Ops-table member -> names of the functions stored in it (from the
    designated initializers in src/: `.fault = alloc_fault,`)."""
    members = {}
    for path in glob.glob(os.path.join(ROOT, "src", "**", "*.[ch]"),
                          recursive=True):
        with open(path) as f:
            for m in INIT.finditer(f.read()):
                members.setdefault(m.group(1), set()).add(m.group(2))
    return members


# Layers bottom up (src/arch belongs to pt).  A call through an ops table
# reaches the layer's own implementations (pt's format ops) or, where it
# has none, those of the layers above it (the memory set calls the
# address-space backends); never a layer below.
LAYER_ORDER = ["lib", "frame", "tlb", "pt", "mset", "slab", "backend",
               "aspace", "kspace", "syscalls"]


def layer_of(path):
    rel = os.path.relpath(path, os.path.join(ROOT, "src")).split(os.sep)
    layer = "pt" if rel[0] == "arch" else rel[0]
    return LAYER_ORDER.index(layer) if layer in LAYER_ORDER else len(LAYER_ORDER)


def indirect_targets(funcs, sites, taken):
    """Caller title -> titles its indirect calls may reach.

    A call through an ops-table member (`a->ops->unmap(...)`) reaches the
    functions stored in a member of that name in src/ (of its own layer, or
    else of the layers above: LAYER_ORDER); any other
    (a callback in a variable or a struct field set at run time) reaches
    every address-taken function not stored in an ops table, i.e. those
    passed as arguments.  The kernel's own callbacks count 0."""
    members = initializers()
    by_name = {}
    for t in funcs:
        by_name.setdefault(short(t), set()).add(t)
    in_tables = set()
    for names in members.values():
        for n in names:
            in_tables |= by_name.get(n, set())
    loose = taken - in_tables
    cache, out = {}, {}
    for caller, where in sites.items():
        targets = set()
        for path, line, col in where:
            if path not in cache:
                with open(path) as f:
                    cache[path] = f.read().splitlines()
            text = cache[path][line - 1][col - 1:] if line <= len(cache[path]) else ""
            m = CALLEE.match(text)
            member = m.group(1) if m else None
            through_member = bool(m) and ("->" in text[:m.end(1)] or
                                          "." in text[:m.end(1)])
            if through_member and member not in members:
                # a hook of an ops table no table in src/ fills (a
                # backend's page_size, release...): the kernel's own
                # callbacks, which count 0 like the HAL
                continue
            if member in members:
                cands = set()
                for n in members[member]:
                    cands |= by_name.get(n, set())
                here = layer_of(path)
                same = {c for c in cands if layer_of(funcs[c][2]) == here}
                above = {c for c in cands if layer_of(funcs[c][2]) > here}
                targets |= same or above or cands
            else:
                targets |= loose
        out[caller] = targets
    return out


# Functions that call themselves, and how deep they can go: a page-table
# walk that recurses (destroy, clone; the others are iterative) does so once
# per level (at most MMK_PT_MAX_LEVELS, 5); the memory
# set's tree walks once per tree level (16: (FANOUT/2)^16 = 2^48 areas, more
# than a 57-bit space holds in pages).
REC_BOUND = {
    "eng_free_rec": 5, "eng_clone_count": 5,
    "eng_clone_commit": 5, "eng_clone_ensure": 5,
    "check_node": 16, "search_up": 16, "search_down": 16, "clear_node": 16,
}


# The error reports, and what only a misuse or a bug reaches: not_alloc is
# the frame allocator's diagnosis of a put or free of a frame that is not
# allocated (EBADFREE / EDOUBLEFREE), which the paths checked here reach
# only on a caller's bug (a frame they hold is allocated); frame_report
# logs it.
REPORTS = {"mmk_log", "mmk_panic", "mmk_vlog", "not_alloc", "frame_report"}


def base_name(t):
    """GCC's clones (foo.isra.0, foo.part.1, foo.constprop.0) are foo."""
    return short(t).split(".")[0]


def depths(funcs, edges, indirect):
    """title -> (depth or None when unbounded, deepest path, externs).

    Indirect calls may reach every address-taken function, except one
    already on the path (callbacks are assumed not to re-enter the call
    that invoked them; GCC cannot tell which callback a call site uses).
    A function calling itself directly counts its frame REC_BOUND times;
    any other cycle of direct calls is unbounded."""
    memo = {}
    onstack = set()

    def visit(t, via_indirect=False):
        if t in memo:
            return memo[t]
        if t not in funcs:  # outside the core: the HAL, mem*, callbacks
            return (0, [], {t})
        if t in onstack:
            if via_indirect:
                return (0, [], set())  # cut: no re-entry through callbacks
            return (None, [t], set())  # a cycle of direct calls
        frame, kind, _ = funcs[t]
        onstack.add(t)
        best, path, ext, bounded = 0, [], set(), kind != "dynamic"
        reps = 1
        for c in sorted(edges.get(t, ())):
            targets = sorted(indirect.get(t, ())) if c == "__indirect_call" else [c]
            for x in targets:
                if x == t and c != "__indirect_call":
                    bound = REC_BOUND.get(base_name(t))
                    if bound is None:
                        bounded, path = False, [t]
                    reps = max(reps, bound or 1)
                    continue
                d, p, e = visit(x, via_indirect or c == "__indirect_call")
                ext |= e
                if d is None:
                    bounded, path = False, p
                    continue
                if d > best:
                    best, path = d, p
        onstack.discard(t)
        r = (frame * reps + best if bounded else None, [t] + path, ext)
        memo[t] = r
        return r

    return {t: visit(t) for t in funcs}


def short(t):
    return t.rsplit(":", 1)[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, required=True,
                    help="bytes allowed for the fault / system-call paths")
    ap.add_argument("--report-only", action="store_true",
                    help="report calls over the limit but exit 0")
    ap.add_argument("--ceiling", type=int,
                    help="fail over this many bytes even with --report-only "
                    "(a guard against regressions while the limit is a goal)")
    ap.add_argument("--target", default="x86_64", choices=sorted(TARGETS))
    ap.add_argument("--cc", help="compiler (default: the target's GCC)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "stack-depth"))
    ap.add_argument("--markdown", help="also write the table as Markdown here")
    ap.add_argument("--show", action="append", default=[], metavar="NAME",
                    help="also print the deepest chain (without the error "
                    "reports) of every function, internal ones included, "
                    "whose name is NAME or a GCC clone of it")
    a = ap.parse_args()

    cc, flags = TARGETS[a.target]
    cc = a.cc or cc
    prefix = cc[:-3] if cc.endswith("gcc") else ""
    readelf = prefix + "readelf"
    ver = subprocess.run([cc, "-dumpfullversion"], capture_output=True,
                         text=True).stdout.strip()
    out = os.path.join(a.out, a.target)
    objs = build(cc, flags, out)
    funcs, edges, sites = {}, {}, {}
    for src, base in objs:
        parse_ci(base + ".ci", src, funcs, edges, sites)
    taken = address_taken(objs, funcs, readelf)
    indirect = indirect_targets(funcs, sites, taken)
    dep = depths(funcs, edges, indirect)
    # The same without the error reports (mmk_log, mmk_panic: misuse and
    # bugs only), to show what the normal paths need.
    quiet = {t: {c for c in cs if short(c) not in REPORTS}
             for t, cs in edges.items()}
    dep_quiet = depths(funcs, quiet, indirect)

    public = sorted((t for t in funcs
                     if re.match(r"^mmk_[a-z0-9]", t) and
                     not t.startswith("mmk__") and ":" not in t),
                    key=lambda t: (-(1 << 30 if dep[t][0] is None
                                     else dep[t][0]), t))
    rows, over = [], []
    for t in public:
        d, path, ext = dep[t]
        hot = bool(SYSCALL_PATH.match(t))
        shown = "unbounded" if d is None else str(d)
        chain = " > ".join(short(p) for p in path[1:4]) + \
            (" > ..." if len(path) > 4 else "")
        dq = dep_quiet[t][0]
        rows.append((t, funcs[t][0], shown, "unbounded" if dq is None else str(dq),
                     "yes" if hot else "", chain))
        # The limit holds for the paths a fault or a system call runs; an
        # error report (mmk_log / mmk_panic: misuse and bugs only, the
        # panic ends the kernel) adds its own depth, shown beside.
        if hot and (dq is None or dq > a.limit):
            over.append((t, "unbounded" if dq is None else str(dq)))

    title = (f"Worst-case stack depth of the public calls, bytes "
             f"({a.target}, {os.path.basename(cc)} {ver} -O2, kernel flags; "
             f"HAL and mem* calls count 0)")
    print(title)
    w = max(len(r[0]) for r in rows)
    print(f"{'function':<{w}} {'own':>5} {'depth':>9} {'no-log':>9} {'path':>4}  deepest chain")
    for r in rows:
        print(f"{r[0]:<{w}} {r[1]:>5} {r[2]:>9} {r[3]:>9} {r[4]:>4}  {r[5]}")
    print("depth: worst case, error reports included; no-log: without the "
          "mmk_log/mmk_panic paths (misuse and bugs only).  Indirect calls "
          "reach the functions stored in an ops-table member of the name "
          "called, or any address-taken callback; 'path' marks the fault / "
          "system-call entry points, whose no-log depth is checked against "
          "the limit.")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(f"{title}\n\n| function | own frame | worst case | "
                    f"without error reports | fault/syscall path | deepest chain |\n"
                    f"|---|---|---|---|---|---|\n")
            for r in rows:
                f.write(f"| `{r[0]}` | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} |\n")

    for name in a.show:
        for t in sorted(funcs):
            if base_name(t) != name:
                continue
            d, path, _ = dep_quiet[t]
            chain = " > ".join(f"{short(p)} {funcs[p][0] if p in funcs else 0}"
                               for p in path)
            print(f"stack-depth: show {t}: "
                  f"{'unbounded' if d is None else d} bytes:\n    {chain}")

    # The ceiling holds even in report-only mode: a path may not get
    # deeper than it is while the limit is still a goal.
    above = [(t, d) for t, d in over
             if a.ceiling is not None and (d == "unbounded" or int(d) > a.ceiling)]
    if not over:
        print(f"stack-depth: every fault / system-call entry point within "
              f"{a.limit} bytes: OK")
        return 0
    for t, d in over:
        chain = " > ".join(f"{short(p)} {funcs[p][0] if p in funcs else 0}"
                           for p in dep_quiet[t][1])
        print(f"stack-depth: {t}: {d} bytes, over the limit of {a.limit}:\n"
              f"    {chain}")
    for t, d in above:
        print(f"stack-depth: FAIL: {t}: {d} bytes, over the ceiling of "
              f"{a.ceiling} (MMK_STACK_CEILING, tests/build/CMakeLists.txt)")
    if above:
        return 1
    if a.report_only:
        print(f"stack-depth: REPORT ONLY: {len(over)} entry points over "
              f"{a.limit} bytes; not failing (the test turns fatal with "
              f"MMK_STACK_FATAL=ON, the default, tests/build/CMakeLists.txt)")
        return 0
    print(f"stack-depth: FAIL: {len(over)} entry points over {a.limit} bytes")
    return 1


if __name__ == "__main__":
    sys.exit(main())
