#!/usr/bin/env python3
"""Runs unittest modules under the skip policy (skip_policy.py), as ctest's Python suites do:

    run_tests.py MODULE [MODULE...]      (from the directory that holds the modules)

A skip prints its reason. Under CI=true a skip whose reason is not on tests/allowed_skips.txt
counts as a failure; an allowed one is recorded in $PARAKIT_SKIP_LOG. Exit status: 0 when
everything passed, 1 on any failure or error, 77 (ctest's SKIP_RETURN_CODE) when every test
skipped and the policy permitted it."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import skip_policy  # noqa: E402

SKIPPED_ALL = 77


class SkipNotAllowed(AssertionError):
    pass


class PolicyResult(unittest.TextTestResult):
    def addSkip(self, test, reason):
        if skip_policy.permitted(reason):
            super().addSkip(test, reason)
            skip_policy.record(test.id(), reason)
            return
        error = SkipNotAllowed(f"skipped under CI=true: {reason} (only the hardware facts in "
                               f"tests/allowed_skips.txt may skip in CI)")
        self.addFailure(test, (SkipNotAllowed, error, None))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, os.getcwd())
    suite = unittest.defaultTestLoader.loadTestsFromNames(argv[1:])
    runner = unittest.TextTestRunner(verbosity=2, resultclass=PolicyResult)
    result = runner.run(suite)
    for test, reason in result.skipped:
        print(f"parakit: skipped {test.id()}: {reason}", file=sys.stderr)
    if not result.wasSuccessful():
        return 1
    # (a class whose setUpClass skips counts as one skip and runs none of its tests)
    if result.skipped and len(result.skipped) >= result.testsRun:
        print("parakit: every test here skipped", file=sys.stderr)
        return SKIPPED_ALL
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
