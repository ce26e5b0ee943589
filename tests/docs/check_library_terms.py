#!/usr/bin/env python3
"""The library speaks its own terms (issue #15): no string literal in lib/ names a command-line
flag ("--chunk"), every option term its messages use (FarmOptions::chunk, kde::Kernel, ...) has
a flag in the CLI's table (apps/parakit/library_terms.cpp), so CLI users never see a library
name, and the table has no entry the library no longer uses. Exit 1 listing what is wrong."""
import os
import re
import sys

REPO = os.environ.get("PARAKIT_REPO") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TABLE = os.path.join(REPO, "apps", "parakit", "library_terms.cpp")
FLAG = re.compile(r"(?<![\w-])--[a-z]")
OPTION_TERM = re.compile(r"\b[A-Z]\w*Options::\w+|\bkde::[A-Z]\w*")


def string_literals(text):
    """The contents of the C++ string literals in `text`, comments skipped."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i + 2)
            i = n if i < 0 else i + 2
        elif text[i] == "'":  # a character literal ('"' among them)
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        elif text[i] == '"':
            j, chars = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    chars.append(text[j:j + 2])
                    j += 2
                else:
                    chars.append(text[j])
                    j += 1
            out.append("".join(chars))
            i = j + 1
        else:
            i += 1
    return out


def library_literals():
    for folder, _, files in os.walk(os.path.join(REPO, "lib")):
        for name in sorted(files):
            if name.endswith((".cpp", ".hpp", ".in")):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    for literal in string_literals(f.read()):
                        yield os.path.relpath(path, REPO), literal


def main():
    problems = []
    literals = list(library_literals())
    with open(TABLE, encoding="utf-8") as f:
        table = dict(re.findall(r'\{"([^"]+)", "([^"]+)"\}', f.read()))
    if not table:
        problems.append(f"{TABLE}: no terms found")
    joined = "\n".join(literal for _, literal in literals)
    for path, literal in literals:
        if FLAG.search(literal):
            problems.append(f"{path}: a flag in a library string: \"{literal}\"")
        for term in OPTION_TERM.findall(literal):
            if term not in table:
                problems.append(f"{path}: \"{term}\" has no flag in {os.path.relpath(TABLE, REPO)}")
    for term in table:
        if term not in joined:
            problems.append(f"{os.path.relpath(TABLE, REPO)}: \"{term}\" is used by no library "
                            f"message")
    for problem in problems:
        print(problem)
    print(f"{len(literals)} string literals in lib/, {len(table)} terms mapped to flags: "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
