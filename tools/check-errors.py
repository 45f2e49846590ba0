#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that every error code a public header documents is in
docs/ERRORS.md, with a test that provokes it, and that each test the table
names exists and is run.

The documented errors of a function are the MMK_E* codes (or their bare
names, "EWRAP") in the comment right above its prototype; when the comment
has an "Errors" clause ("Errors:", "Errors as mmk_x", "Errors (checked in
this order):", "Errors, each leaving ..."), only the text from that word on
counts, so a comment may name another function's code in its prose.  "Errors
as mmk_x", "errors of mmk_x" and "mmk_x's errors" add mmk_x's list.  A
comment applies to every prototype that follows it without a blank line.

Always an error (exit 1):
  - a table row names a test that does not exist (file, definition, its
    cmocka registration, or for a test program of its own a function it
    defines), a file no CMakeLists.txt or Makefile builds, or a file that
    never names the row's function and code;
  - a malformed row, or an error name that is no MMK_E* code;
  - a function the table lists has a documented code the table lacks.
Reported, and an error only in strict mode (--strict or MMK_ERRORS_STRICT=1):
  - a function documenting codes that the table does not list at all (new
    functions other work adds; the table gets them when it is merged);
  - a table row whose function or code the headers no longer document.

Usage: check-errors.py [--strict] [--root DIR] [--list] [--self-test]
  --list prints the documented (function, code) pairs, then the public
         functions with an integer result that document no code, and exits.
  --self-test checks the rules above on a small made-up tree.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def error_names(root):
    """The MMK_E* names of enum mmk_err (types.h)."""
    with open(os.path.join(root, "include/mmkit/types.h")) as f:
        text = f.read()
    enum = re.search(r"enum mmk_err\s*\{(.*?)\}", text, re.S).group(1)
    return [n for n in re.findall(r"\b(MMK_E[A-Z]+)\s*=", enum)]


# A prototype; only those returning an integer can return a code.
PROTO = re.compile(
    r"^\s*(?:static\s+inline\s+|extern\s+)?"
    r"((?:const\s+)?(?:struct\s+|enum\s+)?\w+[\s\*]+?)\**(mmk_[a-z0-9]\w*)\s*\(",
    re.S)
INT_TYPES = {"int", "long", "int64_t", "int32_t", "ssize_t"}
INHERIT = [
    re.compile(r"[Ee]rrors\s+(?:as|of)\s+(mmk_\w+)"),
    re.compile(r"(mmk_\w+)'s\s+errors"),
]


def comment_text(c):
    """A comment without its delimiters and leading stars."""
    c = c[2:-2]
    return "\n".join(re.sub(r"^\s*\*+ ?", "", l) for l in c.split("\n"))


def parse_header(path, codes):
    """{function: (set of codes, [inherited functions])} for one header."""
    with open(path) as f:
        text = f.read()
    out = {}
    bare = "|".join(c[len("MMK_"):] for c in codes)
    code_re = re.compile(r"\b(?:MMK_)?(" + bare + r")\b")
    for m in re.finditer(r"/\*.*?\*/", text, re.S):
        rest = text[m.end():]
        body = comment_text(m.group(0))
        k = re.search(r"\bErrors\b", body)
        clause = body[k.start():] if k else body
        clause = re.sub(r'"[^"\n]*"', "", clause)  # examples: ("MMK_ENOMEM")
        found = {"MMK_" + c for c in code_re.findall(clause)}
        inherit = [f for r in INHERIT for f in r.findall(clause)]
        # The prototypes right below (no blank line, no other comment).
        pos = 0
        while True:
            if re.match(r"[ \t]*\n[ \t]*\n", rest[pos:]) or \
               re.match(r"\s*/\*", rest[pos:]):
                break
            decl = re.match(r"\s*[^;{]*?(?:;|\{)", rest[pos:], re.S)
            if not decl:
                break
            pm = PROTO.match(decl.group(0))
            if not pm or pm.group(2).startswith("mmk__"):
                break
            name = pm.group(2)
            if pm.group(1).strip() in INT_TYPES:
                out[name] = (found, inherit)
            end = pos + decl.end()
            if decl.group(0).endswith("{"):  # skip an inline body
                depth, i = 1, end
                while depth and i < len(rest):
                    depth += {"{": 1, "}": -1}.get(rest[i], 0)
                    i += 1
                end = i
            pos = end
    return out


def documented(root, codes):
    """{function: set of codes}, inherited lists resolved."""
    raw = {}
    inc = os.path.join(root, "include/mmkit")
    for h in sorted(os.listdir(inc)):
        if h.endswith(".h"):
            raw.update(parse_header(os.path.join(inc, h), codes))

    def resolve(fn, seen):
        found, inherit = raw[fn]
        res = set(found)
        for g in inherit:
            if g in raw and g not in seen:
                res |= resolve(g, seen | {g})
        return res

    docs = {fn: resolve(fn, {fn}) for fn in raw}
    return {fn: c for fn, c in docs.items() if c}


ROW = re.compile(r"^\|\s*`?(mmk_\w+)`?\s*\|\s*`?(MMK_\w+)`?\s*\|(.*)\|\s*$")


def read_table(root):
    """[(line number, function, code, [tests])], [problems]."""
    rows, bad = [], []
    path = os.path.join(root, "docs/ERRORS.md")
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.startswith("| mmk_") and not line.startswith("| `mmk_"):
                continue
            m = ROW.match(line.rstrip("\n"))
            if not m:
                bad.append("docs/ERRORS.md:%d: malformed row" % n)
                continue
            tests = [t.strip(" `") for t in m.group(3).split(",")
                     if t.strip(" `")]
            if not tests:
                bad.append("docs/ERRORS.md:%d: %s %s names no test" %
                           (n, m.group(1), m.group(2)))
            rows.append((n, m.group(1), m.group(2), tests))
    return rows, bad


def test_problem(root, test, cache, fn=None, code=None):
    """None if @test ("tests/x/file.c:name") exists and runs, else why.
    The file must also name @fn and @code somewhere (a cheap guard against
    a row pointing at the wrong file)."""
    if ":" not in test:
        return "'%s' is not file.c:test_name" % test
    path, name = test.rsplit(":", 1)
    full = os.path.join(root, path)
    if full not in cache:
        try:
            with open(full) as f:
                cache[full] = f.read()
        except OSError:
            cache[full] = None
    src = cache[full]
    if src is None:
        return "no file %s" % path
    for word in (fn, code):
        if word and not re.search(r"\b" + word + r"\b", src):
            return "%s never names %s" % (path, word)
    if "cmocka" in src:
        # A cmocka test: defined and registered.
        if not re.search(r"\bvoid\s+" + re.escape(name) +
                         r"\s*\(\s*void\s*\*\*", src):
            return "no test function %s in %s" % (name, path)
        if not re.search(r"cmocka_unit_test\w*\(\s*" + re.escape(name) +
                         r"\b", src):
            return "%s is not registered with cmocka in %s" % (name, path)
    else:
        # A test program of its own (tests/build/kmake): a function its
        # main calls.
        if not re.search(r"\b" + re.escape(name) + r"\s*\([^;{]*\)\s*\{",
                         src):
            return "no function %s in %s" % (name, path)
        if not re.search(r"\bmain\s*\(", src):
            return "%s has no main" % path
    # Built: named by the CMakeLists.txt / Makefile of its directory, or
    # its directory by the parent's CMakeLists.txt.
    d = os.path.dirname(full)
    for build, word in ((os.path.join(d, "CMakeLists.txt"), None),
                        (os.path.join(d, "Makefile"), None),
                        (os.path.join(os.path.dirname(d), "CMakeLists.txt"),
                         os.path.basename(d) + "/")):
        try:
            with open(build) as f:
                text = f.read()
        except OSError:
            continue
        base = os.path.basename(path)
        if word is None and (base in text or
                             os.path.splitext(base)[0] + ".o" in text):
            return None
        if word is not None and word in text:
            return None
    return "%s is built by no CMakeLists.txt or Makefile" % path


SELF_HEADER = """
/** Errors: MMK_EWRAP, MMK_ENOMEM. */
int mmk_x_known(int a);

/** Errors as mmk_x_known; the prose after "Errors" counts. */
int mmk_x_alias(int a);

/** A prose mention of MMK_EBUSY.  Errors: MMK_EINVAL. */
int mmk_x_clause(int a);

/** Returns a bool; MMK_EINVAL is not its code. */
bool mmk_x_bool(int a);
"""
SELF_TEST = """#include <cmocka.h>
/* mmk_x_known mmk_x_alias mmk_x_clause MMK_EWRAP MMK_ENOMEM MMK_EINVAL
 * MMK_EBUSY */
static void t_one(void **state) {}
static void t_two(void **state) {}
int main(void) { const struct CMUnitTest t[] = {
	cmocka_unit_test(t_one), cmocka_unit_test(t_two) }; }
"""
SELF_ROWS = {
    "mmk_x_known": [("MMK_EWRAP", "t_one"), ("MMK_ENOMEM", "t_two")],
    "mmk_x_alias": [("MMK_EWRAP", "t_one"), ("MMK_ENOMEM", "t_one")],
    "mmk_x_clause": [("MMK_EINVAL", "t_two")],
}


def self_test():
    """The rules of the module comment, on a made-up tree."""
    import shutil
    import subprocess
    import tempfile

    def run(rows, header_extra="", strict=False):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "include/mmkit"))
            os.makedirs(os.path.join(d, "tests/x"))
            os.makedirs(os.path.join(d, "docs"))
            shutil.copy(os.path.join(ROOT, "include/mmkit/types.h"),
                        os.path.join(d, "include/mmkit/types.h"))
            with open(os.path.join(d, "include/mmkit/x.h"), "w") as f:
                f.write(SELF_HEADER + header_extra)
            with open(os.path.join(d, "tests/x/test_x.c"), "w") as f:
                f.write(SELF_TEST)
            with open(os.path.join(d, "tests/x/CMakeLists.txt"), "w") as f:
                f.write("mmk_add_test(NAME test_x SOURCES test_x.c)\n")
            with open(os.path.join(d, "docs/ERRORS.md"), "w") as f:
                for fn, pairs in rows.items():
                    for code, t in pairs:
                        f.write("| %s | %s | tests/x/test_x.c:%s |\n" %
                                (fn, code, t))
            cmd = [sys.executable, os.path.abspath(__file__), "--root", d]
            if strict:
                cmd.append("--strict")
            env = dict(os.environ)
            env.pop("MMK_ERRORS_STRICT", None)
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            return p.returncode, p.stdout

    cases = []
    cases.append(("complete table passes", run(SELF_ROWS), 0))
    cases.append(("complete table passes strict",
                  run(SELF_ROWS, strict=True), 0))
    r = {k: list(v) for k, v in SELF_ROWS.items()}
    r["mmk_x_known"] = r["mmk_x_known"][:1]
    cases.append(("a known function's missing code fails", run(r), 1))
    r = {k: list(v) for k, v in SELF_ROWS.items()}
    r["mmk_x_known"] = [("MMK_EWRAP", "t_one"), ("MMK_ENOMEM", "t_three")]
    cases.append(("a test that does not exist fails", run(r), 1))
    new = "\n/** Errors: MMK_EFAULT. */\nint mmk_x_new(int a);\n"
    cases.append(("a new function is only reported",
                  run(SELF_ROWS, new), 0))
    cases.append(("a new function fails strict",
                  run(SELF_ROWS, new, strict=True), 1))
    r = {k: list(v) for k, v in SELF_ROWS.items()}
    r["mmk_x_clause"] = r["mmk_x_clause"] + [("MMK_EBUSY", "t_one")]
    cases.append(("a row the header does not document fails strict",
                  run(r, strict=True), 1))
    bad = 0
    for what, (rc, out), want in cases:
        ok = rc == want
        bad |= not ok
        print("%s: %s" % ("ok" if ok else "FAIL", what))
        if not ok:
            print(out)
    return 1 if bad else 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    strict = "--strict" in argv or os.environ.get("MMK_ERRORS_STRICT") == "1"
    root = ROOT
    if "--root" in argv:
        root = argv[argv.index("--root") + 1]
    codes = error_names(root)
    docs = documented(root, codes)
    if "--list" in argv:
        for fn in sorted(docs):
            print(fn, " ".join(sorted(docs[fn])))
        # Integer results that document no code (counts, callbacks'
        # values, cannot-fail calls): for a reader to look at.
        inc = os.path.join(root, "include/mmkit")
        for h in sorted(os.listdir(inc)):
            if not h.endswith(".h"):
                continue
            with open(os.path.join(inc, h)) as f:
                for fn in re.findall(r"^(?:int|long|int64_t)\s+(mmk_[a-z0-9]\w*)"
                                     r"\s*\(", f.read(), re.M):
                    if fn not in docs:
                        print(fn, "(none documented)")
        return 0
    rows, errors = read_table(root)
    notes = []
    table = {}
    cache = {}
    for n, fn, code, tests in rows:
        where = "docs/ERRORS.md:%d" % n
        if code not in codes:
            errors.append("%s: %s is no error code" % (where, code))
            continue
        table.setdefault(fn, set()).add(code)
        for t in tests:
            why = test_problem(root, t, cache, fn, code)
            if why:
                errors.append("%s: %s %s: %s" % (where, fn, code, why))
        if fn not in docs:
            notes.append("%s: %s documents no error codes any more" %
                         (where, fn))
        elif code not in docs[fn]:
            notes.append("%s: %s does not document %s any more" %
                         (where, fn, code))
    for fn in sorted(docs):
        if fn not in table:
            notes.append("%s documents %s; docs/ERRORS.md lists none of it" %
                         (fn, ", ".join(sorted(docs[fn]))))
            continue
        for code in sorted(docs[fn] - table[fn]):
            errors.append("%s documents %s; docs/ERRORS.md has no row" %
                          (fn, code))
    for e in errors:
        print("error:", e)
    for m in notes:
        print("error:" if strict else "note:", m)
    pairs = sum(len(c) for c in docs.values())
    listed = sum(len(docs[fn] & table.get(fn, set())) for fn in docs)
    print("check-errors: %d functions document %d codes; %d listed with "
          "tests%s" % (len(docs), pairs, listed,
                       " (strict)" if strict else ""))
    if errors or (strict and notes):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
