#!/usr/bin/env python3
"""Boot one bare-metal demo kernel under QEMU and check it (label `qemu`).

    tests/qemu/run_demo.py ARCH      (riscv64, aarch64, x86_64, loongarch64)

1. `tools/demo.sh ARCH` builds the kernel (installing the toolchain, the
   LoongArch linker and QEMU when missing) and boots it; every transcript
   line after the boot banner must match, in order, the lines listed in
   EXPECTED below, ending with "mmkit demo: PASS" and the arch's pass status.
2. The QMP build (kernel-qmp.elf) runs the same checks, prints mmkit's own
   dump of its live page table and idles; through QMP the harness then asks
   QEMU for its view of the same table at the same moment and compares:
   `info mem` (riscv64, x86_64) and `info tlb` (x86_64) line by line against
   mmk_pt_dump's QEMU-style output, and `gva2gpa` for sample addresses
   (all four) against mmk_pt_query.
3. User processes (arches with demo/<arch>/arch_uctx.h): the transcript
   lines of USER_LINES come between the checks and the verdict.  In the
   QMP build the kernel also pauses in the user phase when the arch's
   arch_uctx.h defines ARCH_UART_GETC (demo/common/uproc.c, "QMP
   pauses"): at the first fork of the "fork" program, with one process's
   root installed, it prints mmkit's dump of that whole table between
   `MMKIT-UDUMP-BEGIN <tag>` and `MMKIT-UDUMP-END <tag>` (rows
   `MMKIT-UDUMP <tag> <row>`, QEMU's `info mem` style), then
   `MMKIT-PAUSE <tag>`, and polls its UART.  The harness asks QEMU for
   `info mem` at that moment, compares (merged runs, as above), and
   writes one byte to QEMU's stdin (the serial port) to let it go on.
   Tags, in order: fork-parent-before, fork-parent-after (its private
   pages now read-only), fork-child-after (the child's root loaded).  On
   riscv64 the harness also checks that the fork shows: fewer writable
   user rows in the parent after it, read-only user rows in the child.
   An arch enables this by defining ARCH_UART_GETC and arch_uart_getc().
"""
import os
import re
import select
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from qmp import QMP  # noqa: E402

ARCHES = ("riscv64", "aarch64", "x86_64", "loongarch64")
BOOT_TIMEOUT = 240  # build and boot, the LoongArch linker already there
LD_TIMEOUT = 1500   # building that linker: ~1.5 min idle, far more when busy
QEMU_TIMEOUT = 60


def have_aspace():
    r = subprocess.run(["git", "ls-files", "src/aspace/fault.c"], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode != 0:
        return os.path.exists(os.path.join(ROOT, "src/aspace/fault.c"))
    return bool(r.stdout.strip())


def arch_has(arch, what):
    """Whether the arch's demo opts into a phase: DEMO_KSPACE=1 in its
    arch.mk (the kernel-space check), or a demo/<arch>/arch_uctx.h (user
    processes, demo/common/uproc.h)."""
    d = os.path.join(ROOT, "demo", arch)
    if what == "kspace":
        with open(os.path.join(d, "arch.mk")) as f:
            return "-DDEMO_KSPACE=1" in f.read()
    return os.path.exists(os.path.join(d, "arch_uctx.h"))


# The user-process phase's transcript lines, in order (demo/user/ and
# demo/common/uproc.c), after the checks and before the verdict; the same
# on every arch (the order is the cooperative scheduler's: round robin by
# pid, a process runs until it exits, waits or is killed).  The numbers
# are checked where they mean something: fault counts, contents kept.
HEX = r"0x[0-9a-f]+"
KILLED = (r"user: pid \d+ \(%s\) killed: %s at " + HEX + r": %s \(.+, pc " + HEX +
          r"\); the kernel goes on")
LOADED = (r"user: %s: pid \d+, [1-8] segments " + HEX + "-" + HEX + r", entry " +
          HEX + r", stack " + HEX + "-" + HEX + r", break " + HEX)
USER_LINES = [
    r"user: kernel space up \(mmk_kspace_init\), \S+ ioremapped at " + HEX +
    r"; each program in its own space \(mmk_kspace_user_create\), loaded "
    r"by mmk_loader_load:",
    LOADED % "lazy", LOADED % "fork", LOADED % "fault", LOADED % "mem",
    r"user lazy: ok - 8 pages written: faults 8 then 0; 4 pages read first: "
    r"faults 4 \(zero page\), first write 4 \(own copy\), then 0",
    r"user lazy: ok - madvise\(DONTNEED\) of 2 written pages 0: they read 0 "
    r"again \(faults 2\), the third kept its data",
    r"user mem: ok - mremap moved 4 populated pages (%s) -> (?!\1)%s "
    r"\(grown to 8\), 4 of 4 kept their contents" % (HEX, HEX),
    KILLED % ("fault", "write", r"the mapping does not allow it \(mmk_sys_fault: EACCES\)"),
    KILLED % ("mem", "read", r"no mapping there \(mmk_sys_fault: EFAULT\)"),
    r"user fork child: ok - sees 100 \(not the parent's 200\); first write "
    r"faults 1 \(copy\), next 0; MAP_SHARED write faults 0; a write in the "
    r"4 MiB region faults 1",
    r"user fork: ok - fork wrote [1-9]\d* table entries for [1-9]\d* user "
    r"pages \(\d+ leaf tables shared, not copied\) and [1-9]\d* for the "
    r"kernel's identity map; parent's first write faults 1 \(copy\), next "
    r"0; keeps 201, sees the child's MAP_SHARED 2; child status 0x0",
    r"user mem: ok - munmap 0, then a read of %s: child killed" % HEX,
    r"user mem: ok - brk (%s): \+3 pages %s, shrunk to %s, grown again %s: "
    r"first page kept, third page zero again" % (HEX, HEX, HEX, HEX),
    r"user mem: ok - write\(\) of a kernel address -14, of an unmapped one "
    r"-14 \(EFAULT\), of 0 bytes 0",
    KILLED % ("fault", "execute", r"the mapping does not allow it \(mmk_sys_fault: EACCES\)"),
    KILLED % ("fault", "read", r"kernel memory or outside the user window"),
    r"user: pid \d+ \(fault\) killed: .+ \(cause %s\) at pc %s, not a fault "
    r"mmkit resolves; the kernel goes on" % (HEX, HEX),
    r"user fault: ok - children killed: write to read-only yes, jump to "
    r"no-exec yes, read of kernel memory yes, trap instruction yes; W\^X: "
    r"mmap\(W\|X\) -13, mprotect\(W\|X\) -13, mprotect\(R\|X\) 0; this "
    r"process goes on",
    r"user: ok - 4 programs, 6 forks, 5 exits, 5 killed as expected; 10 "
    r"processes on (10 distinct ASIDs|ASID 0 \(switches flush\)); every "
    r"space destroyed, all \d+ frames back",
]


def expected_lines(arch):
    lazy = (r"check lazy: ok - .+" if have_aspace()
            else r"check lazy: pending \(needs aspace\)")
    return [
        r"frames: \d+ RAM range\(s\), \d+ KiB RAM, \d+ KiB free \(kernel .+\)",
        r"mmu: on, \S+ table \(\d levels, \d+ KiB pages\), \d+ table pages; .+",
        r"check kernel-image: ok - .+",
        r"check alias: ok - .+",
        r"check read-only: ok - .+",
        r"check no-exec: ok - .+",
        r"check unmap: ok - .+",
        r"check protect: ok - .+",
        r"check huge: ok - .+",
        lazy,
    ] + ([r"check kspace: ok - .+"] if arch_has(arch, "kspace") else []) + (
        USER_LINES if arch_has(arch, "user") else []) + [
        r"mmkit demo: PASS",
    ]


failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check_transcript(arch, lines, what):
    """Every line after the banner matches EXPECTED, in order."""
    banner = "mmkit demo: %s kernel booted" % arch
    if banner not in lines:
        fail("%s: no boot banner %r" % (what, banner))
        return
    rest = lines[lines.index(banner) + 1:]
    rest = [l for l in rest if not l.startswith(("mmkit info:", "mmkit debug:"))]
    exp = expected_lines(arch)
    for i, pat in enumerate(exp):
        if i >= len(rest):
            fail("%s: transcript ends before line %d, expected /%s/"
                 % (what, i + 1, pat))
            return
        if not re.fullmatch(pat, rest[i]):
            fail("%s: line %d is %r, expected /%s/" % (what, i + 1, rest[i], pat))
            return
    print("%s: all %d transcript lines as expected" % (what, len(exp)), flush=True)
    return rest[len(exp):]


def build_loongarch_ld():
    """Build (once, cached outside the tree) GNU ld for LoongArch."""
    t0 = time.monotonic()
    p = subprocess.run(["tools/loongarch-ld.sh"], cwd=ROOT, capture_output=True,
                       text=True, timeout=LD_TIMEOUT)
    if p.returncode != 0:
        sys.stdout.write(p.stderr)
        fail("tools/loongarch-ld.sh could not provide a LoongArch GNU ld")
        return False
    if time.monotonic() - t0 > 5:
        print("LoongArch GNU ld built in %.0f s: %s"
              % (time.monotonic() - t0, p.stdout.strip()), flush=True)
    return True


def run_demo(arch):
    if arch == "loongarch64" and not build_loongarch_ld():
        return
    t0 = time.monotonic()
    p = subprocess.run(["tools/demo.sh", arch], cwd=ROOT, capture_output=True,
                       text=True, timeout=BOOT_TIMEOUT + QEMU_TIMEOUT,
                       env=dict(os.environ, DEMO_TIMEOUT=str(QEMU_TIMEOUT)))
    out = p.stdout.replace("\r", "")
    sys.stdout.write(out)
    sys.stdout.write(p.stderr)
    lines = out.splitlines()
    tail = check_transcript(arch, lines, "boot")
    if p.returncode != 0:
        fail("tools/demo.sh %s exited %d" % (arch, p.returncode))
    elif tail is not None and not any(
            re.fullmatch(r"demo: %s PASS \(QEMU exit status \d+\)" % arch, l)
            for l in tail):
        fail("tools/demo.sh did not confirm the pass status")
    print("boot: %.1f s (build included)" % (time.monotonic() - t0), flush=True)


def norm(line):
    return " ".join(line.split()).lower()


def qemu_rows(text):
    """Data rows of an `info mem` / `info tlb` answer (headers dropped)."""
    rows = []
    for l in text.replace("\r", "").splitlines():
        l = l.strip()
        if re.match(r"^[0-9a-f]{8,}[\s:-]", l):
            rows.append(norm(l))
    return rows


def merged(rows):
    """`info mem` rows as maximal runs, so that where the two merge adjacent
    leaves differently (QEMU's riscv64 walker only merges a leaf into the
    run before it if it continues it by its own size, so a 4 KiB run never
    merges into the 2 MiB page after it) only real differences remain.
    riscv64 rows: "vaddr paddr size attr"; x86_64: "start-end size prot"."""
    runs = []
    for r in rows:
        f = r.replace("-", " ", 1).split() if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", r) else r.split()
        if len(f) == 4 and re.fullmatch(r"[0-9a-f]+", f[1]) and len(f[3]) > 4:
            va, pa, size, attr = int(f[0], 16), int(f[1], 16), int(f[2], 16), f[3]
        elif len(f) == 4:  # x86_64: start end size prot
            va, pa, size, attr = int(f[0], 16), None, int(f[2], 16), f[3]
        else:
            runs.append((r,))
            continue
        if runs and len(runs[-1]) == 4:
            lva, lpa, lsize, lattr = runs[-1]
            if (lattr == attr and lva + lsize == va and
                    (pa is None or lpa + lsize == pa)):
                runs[-1] = (lva, lpa, lsize + size, attr)
                continue
        runs.append((va, pa, size, attr))
    out = []
    for r in runs:
        if len(r) == 1:
            out.append(r[0])
        elif r[1] is None:
            out.append("%016x-%016x %016x %s" % (r[0], r[0] + r[2], r[2], r[3]))
        else:
            out.append("%016x %016x %016x %s" % r)
    return out


def compare(what, ours, theirs):
    ours = [r for r in ours if re.match(r"^[0-9a-f]{8,}[\s:-]", r)]
    if what.startswith("info mem"):
        ours, theirs = merged(ours), merged(theirs)
    if ours == theirs:
        print("qmp %s: mmkit's dump and QEMU agree on %d lines"
              % (what, len(ours)), flush=True)
        return
    import difflib
    diff = "\n".join(difflib.unified_diff(ours, theirs, "mmkit", "qemu",
                                          lineterm="", n=1))
    fail("qmp %s: mmkit's dump and QEMU differ:\n%s" % (what, diff[:6000]))


def run_qmp(arch):
    kernel = os.path.join(ROOT, "build/demo", arch, "kernel-qmp.elf")
    with tempfile.TemporaryDirectory(prefix="mmk-qmp-") as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        env = dict(os.environ, DEMO_NO_BUILD="1", DEMO_KERNEL=kernel,
                   DEMO_QMP=sock, DEMO_TIMEOUT=str(QEMU_TIMEOUT))
        p = subprocess.Popen(["tools/demo.sh", arch], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.PIPE)
        lines, buf = [], b""
        deadline = time.monotonic() + 30
        idle = False
        q = None
        udump, paused = {}, []
        try:
            while time.monotonic() < deadline and not idle:
                r, _, _ = select.select([p.stdout], [], [], 0.5)
                if not r:
                    if p.poll() is not None:
                        break
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    l, buf = buf.split(b"\n", 1)
                    l = l.decode(errors="replace").replace("\r", "")
                    lines.append(l)
                    if l == "MMKIT-IDLE":
                        idle = True
                    m = re.match(r"MMKIT-UDUMP (\S+) (.*)", l)
                    if m:
                        udump.setdefault(m.group(1), []).append(norm(m.group(2)))
                    m = re.match(r"MMKIT-PAUSE (\S+)$", l)
                    if m:
                        # the kernel spins with the process's root loaded
                        # until it reads a byte from its UART
                        if q is None:
                            q = QMP(sock).__enter__()
                        tag = m.group(1)
                        rows = qemu_rows(q.hmp("info mem"))
                        compare("info mem (%s)" % tag, udump.get(tag, []), rows)
                        paused.append((tag, udump.get(tag, []), rows))
                        p.stdin.write(b"g")
                        p.stdin.flush()
            if not idle:
                sys.stdout.write("\n".join(lines) + "\n")
                fail("qmp kernel never reached MMKIT-IDLE")
                return
            check_transcript(arch, [l for l in lines if not l.startswith("MMKIT-")],
                             "qmp boot")
            dump = {"mem": [], "tlb": []}
            samples = []
            for l in lines:
                m = re.match(r"MMKIT-DUMP (mem|tlb) (.*)", l)
                if m:
                    dump[m.group(1)].append(norm(m.group(2)))
                m = re.match(r"MMKIT-SAMPLE (\S+) (\S+) (.*)", l)
                if m:
                    samples.append((m.group(1), int(m.group(2), 16),
                                    m.group(3).split()))
            check_pauses(arch, paused)
            if q is None:
                q = QMP(sock).__enter__()
            with q:
                if arch in ("riscv64", "x86_64"):
                    compare("info mem", dump["mem"], qemu_rows(q.hmp("info mem")))
                if arch == "x86_64":
                    compare("info tlb", dump["tlb"], qemu_rows(q.hmp("info tlb")))
                check_samples(arch, q, samples)
                q.quit()
        finally:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


PAUSE_TAGS = ["fork-parent-before", "fork-parent-after", "fork-child-after"]


def user_pauses(arch):
    """Whether the arch's QMP kernel pauses in the user phase (its
    arch_uctx.h defines ARCH_UART_GETC: demo/common/uproc.c)."""
    if not arch_has(arch, "user"):
        return False
    with open(os.path.join(ROOT, "demo", arch, "arch_uctx.h")) as f:
        return "ARCH_UART_GETC" in f.read()


def user_rows(rows, writable):
    """`info mem` rows of the user window (U set), writable ones or not."""
    out = []
    for r in rows:
        f = r.split()
        if len(f) == 4 and re.fullmatch(r"[rwxugad-]+", f[3]) and "u" in f[3]:
            if ("w" in f[3]) == writable:
                out.append(r)
    return out


def check_pauses(arch, paused):
    """The user-phase pauses came, in order, and show the fork: after it
    the parent's private user pages lost write (copy on write) and the
    child maps user pages too."""
    if not user_pauses(arch):
        if paused:
            fail("qmp: pauses %s from an arch that does not announce them"
                 % [t for t, _, _ in paused])
        return
    tags = [t for t, _, _ in paused]
    if tags != PAUSE_TAGS:
        fail("qmp: user-phase pauses %s, expected %s" % (tags, PAUSE_TAGS))
        return
    if arch != "riscv64":
        return  # the attribute letters below are riscv64's `info mem`
    d = {t: rows for t, rows, _ in paused}
    wb = len(user_rows(d["fork-parent-before"], True))
    wa = len(user_rows(d["fork-parent-after"], True))
    child = len(user_rows(d["fork-child-after"], False))
    if not (wb > wa and child > 0):
        fail("qmp: the fork does not show in the tables: parent's writable "
             "user rows %d before, %d after; child's read-only user rows %d"
             % (wb, wa, child))
    else:
        print("qmp fork: parent's writable user rows %d before, %d after; "
              "child's read-only user rows %d" % (wb, wa, child), flush=True)


def check_samples(arch, q, samples):
    if not samples:
        fail("qmp: the kernel printed no MMKIT-SAMPLE lines")
        return
    ok = 0
    for name, va, rest in samples:
        ans = q.hmp("gva2gpa %#x" % va).strip()
        m = re.search(r"gpa:\s*(0x[0-9a-f]+)", ans)
        if rest[0] == "unmapped":
            if m:
                fail("gva2gpa %s %#x: mmkit says unmapped, QEMU %s" % (name, va, ans))
            else:
                ok += 1
            continue
        pa = int(rest[0], 16)
        if not m:
            if arch == "loongarch64" and "Unmapped" in ans:
                # QEMU's LoongArch gva2gpa only resolves addresses that
                # are in the TLB (or a DMW); not a disagreement.
                print("gva2gpa %s %#x: not TLB-resident, skipped" % (name, va))
                continue
            fail("gva2gpa %s %#x: mmkit %#x, QEMU %r" % (name, va, pa, ans))
        elif int(m.group(1), 16) != pa:
            fail("gva2gpa %s %#x: mmkit %#x, QEMU %s" % (name, va, pa, m.group(1)))
        else:
            ok += 1
    print("qmp gva2gpa: %d of %d sample addresses agree with mmk_pt_query"
          % (ok, len(samples)), flush=True)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ARCHES:
        sys.exit("usage: run_demo.py {%s}" % "|".join(ARCHES))
    arch = sys.argv[1]
    t0 = time.monotonic()
    run_demo(arch)
    if not failures:
        run_qmp(arch)
    print("%s: %s in %.1f s" % (arch, "FAIL" if failures else "PASS",
                                time.monotonic() - t0))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
