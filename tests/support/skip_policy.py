"""The skip policy of the test suites (the GoogleTest side is skip_policy.cpp):

- every skip prints its reason;
- under CI=true a skip fails the run unless its reason matches tests/allowed_skips.txt (facts
  about the hardware, such as "this CPU has no AVX-512");
- allowed skips are appended to $PARAKIT_SKIP_LOG, which ./run.sh skips prints at the end of
  the CI log."""
import os
import re

ALLOWLIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "allowed_skips.txt")


def in_ci():
    return os.environ.get("CI") == "true"


def allowed_patterns(path=ALLOWLIST):
    with open(path, encoding="utf-8") as f:
        return [re.compile(line.strip()) for line in f
                if line.strip() and not line.lstrip().startswith("#")]


def allowed(reason, patterns=None):
    """Whether `reason` names a fact the allow-list accepts."""
    return any(p.search(reason) for p in (allowed_patterns() if patterns is None else patterns))


def permitted(reason):
    """Whether a skip with this reason may pass: anywhere outside CI, in CI only if allowed."""
    return not in_ci() or allowed(reason)


def record(test_id, reason):
    """Appends an allowed skip to $PARAKIT_SKIP_LOG (one line; O_APPEND, so parallel tests
    never interleave within a line)."""
    path = os.environ.get("PARAKIT_SKIP_LOG")
    if not path:
        return
    line = f"{test_id}: {reason}".replace("\n", " ") + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
