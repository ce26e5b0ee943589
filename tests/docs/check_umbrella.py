#!/usr/bin/env python3
"""The umbrella header lib/include/parakit/parakit.hpp includes every public header (each
header under lib/include/parakit/ but those under a detail/ folder and itself), and nothing
else: a user who includes it gets the whole API. Exit 1 listing what differs."""
import os
import re
import sys

REPO = os.environ.get("PARAKIT_REPO") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ROOT = os.path.join(REPO, "lib", "include")
UMBRELLA = os.path.join(ROOT, "parakit", "parakit.hpp")


def public_headers():
    out = set()
    for folder, dirs, files in os.walk(os.path.join(ROOT, "parakit")):
        dirs[:] = [d for d in dirs if d != "detail"]
        for name in files:
            if name.endswith(".hpp"):
                out.add(os.path.relpath(os.path.join(folder, name), ROOT))
    out.discard("parakit/parakit.hpp")
    return out


def main():
    with open(UMBRELLA) as f:
        included = set(re.findall(r'^#include "(parakit/[^"]+)"', f.read(), re.M))
    # version.hpp is generated into the build tree (configure_file), not under lib/include.
    headers = public_headers() | {"parakit/version.hpp"}
    problems = [f"missing from parakit.hpp: {h}" for h in sorted(headers - included)]
    problems += [f"parakit.hpp includes a non-public or unknown header: {h}"
                 for h in sorted(included - headers)]
    for line in problems:
        print(line)
    print(f"{len(headers)} public headers, {len(included)} included: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
