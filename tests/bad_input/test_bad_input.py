"""Bad input, table-driven (cases.py): every case runs on the thread backend and under
mpirun -np 3. Each must exit 2 with exactly one `parakit: error:` line naming what was
wrong, print no sanitizer report or crash, end within 10 s, leave no file behind (no partial
output) and no process running."""
import os
import shutil
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from parakit_cli import command_line, ENV, tagged_processes  # noqa: E402
import subprocess  # noqa: E402

from cases import CASES  # noqa: E402

LAUNCHES = {"threads": None, "mpirun-np3": 3}
# Seconds for the whole job, mpirun -np 3 start-up included, on a loaded machine running
# `ctest -j` (a bad input usually ends in about 1 s).
LIMIT = 30.0
CRASH_SIGNS = ("Sanitizer", "runtime error:", "core dumped", "Segmentation fault",
               "Aborted", "terminate called", "SIGSEGV")


def tree(root):
    """Every path under root (files and directories), relative, with file sizes."""
    found = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            found[os.path.relpath(path, root)] = None if os.path.isdir(path) else \
                os.path.getsize(path)
    return found


class BadInput(unittest.TestCase):
    runs = 0

    def check(self, case_id, argv, files, expect, launch):
        tmp = tempfile.mkdtemp(prefix=f"pk-bad-{case_id}-")
        try:
            for name, content in files.items():
                path = os.path.join(tmp, name)
                if content == "dir":
                    os.mkdir(path)
                elif callable(content):
                    content(path)
                else:
                    with open(path, "wb") as f:
                        f.write(content)
            before = tree(tmp)
            args = [a.replace("{d}", tmp) for a in argv]
            tag = uuid.uuid4().hex
            env = dict(ENV, PARAKIT_BAD_INPUT_TAG=tag)
            started = time.monotonic()
            try:
                proc = subprocess.run(command_line(args, LAUNCHES[launch]), cwd=tmp, env=env,
                                      capture_output=True, text=True, timeout=2 * LIMIT)
            except subprocess.TimeoutExpired:
                self.fail(f"{case_id} [{launch}]: still running after {2 * LIMIT:.0f} s")
            seconds = time.monotonic() - started
            where = f"{case_id} [{launch}]: {' '.join(args)}\nstderr: {proc.stderr}"
            self.assertEqual(proc.returncode, 2, where)
            lines = [x for x in proc.stderr.splitlines() if x.startswith("parakit: error:")]
            self.assertEqual(len(lines), 1, where)
            if isinstance(expect, dict):
                expect = expect[launch]
            self.assertIn(expect, lines[0], where)
            for sign in CRASH_SIGNS:
                self.assertNotIn(sign, proc.stderr, where)
            self.assertLess(seconds, LIMIT, f"took {seconds:.1f} s, the bound is {LIMIT:.0f} s: "
                                            f"{where}")
            self.assertEqual(tree(tmp), before, f"{where}\nfiles left behind or changed")
            deadline = time.monotonic() + 3
            while tagged_processes("PARAKIT_BAD_INPUT_TAG", tag) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(tagged_processes("PARAKIT_BAD_INPUT_TAG", tag), {},
                             f"{where}\nprocesses left running")
            BadInput.runs += 1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        print(f"\nbad input: {len(CASES)} distinct cases x {len(LAUNCHES)} launches "
              f"({', '.join(LAUNCHES)}): {cls.runs} runs passed", file=sys.stderr)


def _make(case, launch):
    case_id, argv, files, expect = case
    return lambda self: self.check(case_id, argv, files, expect, launch)


_ids = [c[0] for c in CASES]
assert len(_ids) == len(set(_ids)), "duplicate case ids"
for _case in CASES:
    for _launch in LAUNCHES:
        setattr(BadInput, f"test_{_case[0].replace('-', '_')}__{_launch.replace('-', '_')}",
                _make(_case, _launch))

if __name__ == "__main__":
    unittest.main()
