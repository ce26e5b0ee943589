#!/usr/bin/env python3
"""Prints the demo's comparison table from `parakit sum --json` outputs."""
import json
import sys

rows = [json.loads(open(path).read()) for path in sys.argv[1:]]
rows.sort(key=lambda r: (r["mode"], r.get("dist", ""), r["backend"]))
header = f"{'mode':6} {'dist':8} {'backend':8} {'workers':>7} {'sum':>26} {'seconds':>9} {'GB/s':>7}"
print(header)
print("-" * len(header))
for r in rows:
    print(f"{r['mode']:6} {r.get('dist', '-'):8} {r['backend']:8} {r['workers']:>7} "
          f"{str(r['sum']):>26} {r['seconds']:>9.4f} {r['gb_per_s']:>7.2f}")
exact = {}
for r in rows:
    if r["mode"] == "exact":
        exact.setdefault(r.get("dist"), set()).add(r["sum_hex"])
for dist, sums in sorted(exact.items()):
    verdict = "bitwise identical" if len(sums) == 1 else "DIFFERENT (bug)"
    print(f"exact sums of {dist} on every backend: {verdict}")
    if len(sums) != 1:
        sys.exit(1)
for r in rows:
    if r["mode"] == "fast" and r.get("dist") in exact:
        reference = float.fromhex(next(iter(exact[r["dist"]])))
        fast = float(r["sum"]) if not isinstance(r["sum"], str) else float(r["sum"])
        error = abs(fast - reference)
        relative = error / abs(reference) if reference else error
        print(f"fast {r['dist']:8} on {r['backend']:8}: off by {error:.6g} (relative {relative:.2g}) "
              f"from the exact sum")
