#!/usr/bin/env python3
"""Checks docs/RELIABILITY.md against the repository (issue #7: "CI regenerates or checks it"):
- every row of the table has the five columns (what, where, cases, bound, result);
- every repository path in a row's *where* column (a backticked token with a '/') exists;
- every ctest a row names (`ctest NAME` or a backticked dotted name like `soak.farm_mpi4`)
  is a test of this build (ctest -N in PARAKIT_BUILD_DIR);
- the bad-input row's case count is the number of cases in tests/bad_input/cases.py;
- no row is left "not yet".
Prints what it checked; exit 1 with one line per problem."""
import os
import re
import subprocess
import sys

REPO = os.path.abspath(os.environ.get("PARAKIT_REPO")
                       or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC = os.path.join(REPO, "docs", "RELIABILITY.md")


def table_rows(text):
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.match(r"^\|[-: |]+\|$", line):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(cells)
    return rows[1:]  # the header row


def ctest_names(build_dir):
    if not build_dir:
        return None
    out = subprocess.run(["ctest", "-N"], cwd=build_dir, capture_output=True, text=True).stdout
    return set(re.findall(r"Test\s+#\d+: (\S+)", out))


def bad_input_cases():
    sys.path.insert(0, os.path.join(REPO, "tests", "bad_input"))
    sys.path.insert(0, os.path.join(REPO, "tests", "cli"))
    import cases  # noqa: E402
    return len(cases.CASES)


def main():
    with open(DOC) as f:
        rows = table_rows(f.read())
    problems = []
    names = ctest_names(os.environ.get("PARAKIT_BUILD_DIR"))
    paths = tests = 0
    for row in rows:
        what = row[0][:60] if row else "?"
        if len(row) != 5:
            problems.append(f"row '{what}': {len(row)} columns, not 5")
            continue
        where = row[1]
        for token in re.findall(r"`([^`]+)`", where):
            word = token.split()[0]
            if "/" in word and not word.startswith("-"):
                paths += 1
                if not os.path.exists(os.path.join(REPO, word)):
                    problems.append(f"row '{what}': {word} does not exist")
            dotted = re.fullmatch(r"(?:ctest )?([a-z_]+\.[a-z0-9_]+)", token)
            if dotted and names is not None and not dotted.group(1).endswith((".py", ".md")):
                tests += 1
                if dotted.group(1) not in names:
                    problems.append(f"row '{what}': no ctest named {dotted.group(1)}")
        if "not yet" in " ".join(row).lower():
            problems.append(f"row '{what}': not yet done")
        if "tests/bad_input/cases.py" in where:
            count = re.match(r"\s*(\d+)", row[2])
            expected = bad_input_cases()
            if not count or int(count.group(1)) != expected:
                problems.append(f"row '{what}': says {row[2]!r}, but cases.py has {expected} cases")
    if not rows:
        problems.append("no table rows found")
    for p in problems:
        print(f"docs/RELIABILITY.md: {p}")
    print(f"checked {len(rows)} rows, {paths} paths, {tests} ctest names"
          f"{'' if names is not None else ' (no PARAKIT_BUILD_DIR: ctest names not checked)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
