#!/usr/bin/env python3
"""Turn mmkit-bench's JSON lines (build/bench.json) into the Markdown table
of docs/BENCHMARKS.md.  Usage: tools/bench-table.py [build/bench.json]"""
import json
import sys


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "build/bench.json"
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print("| metric | arch | n | value | unit | bound | value/bound | goal | peers |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        goal = "-"
        if "goal" in r:
            kind = r.get("goal_kind", "")
            x = r["value"] / r["bound"] if kind.endswith("x_bound") and r.get("bound") else r["value"]
            ok = x <= r["goal"] if kind.startswith("<=") else x >= r["goal"]
            unit = "x" if kind.endswith("x_bound") else ""
            goal = f"{kind[:2]} {r['goal']:g}{unit} ({'met' if ok else '**missed**'})"
        peers = ", ".join(f"{k[5:]} {fmt(v)}" for k, v in r.items() if k.startswith("peer."))
        print(f"| {r['metric']} | {r.get('arch', '-')} | {r.get('n', '-')} | {fmt(r['value'])} | "
              f"{r['unit']} | {fmt(r.get('bound'))} | {fmt(r.get('ratio'))} | {goal} | {peers or '-'} |")


if __name__ == "__main__":
    main()
