"""Helpers shared by the CLI tests: run the built parakit with or without mpirun."""
import json
import os
import re
import struct
import subprocess
import sys
import time

BIN = os.environ.get("PARAKIT_BIN", "parakit")
MPIEXEC = os.environ.get("PARAKIT_MPIEXEC", "mpirun")
REPO = os.environ.get("PARAKIT_REPO", os.path.join(os.path.dirname(__file__), "..", ".."))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
for name in ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"):
    ENV.pop(name, None)

# Time bounds. A run that should end at once but has not after HANG_SECONDS is hung, not slow:
# a loaded 2-core machine running `ctest -j2` has been seen to need over 20 s just to start
# `mpirun -np 4`. STOP_SECONDS bounds the time from a signal or fault to the end of the whole
# job (every rank, every child): the requirement that it ends "within seconds", with room for
# the same load. Every check says what it measured (assert_took_less).
HANG_SECONDS = 120
STOP_SECONDS = 30


def assert_took_less(test, seconds, bound, what=""):
    test.assertLess(seconds, bound, f"{what}: took {seconds:.1f} s, the bound is {bound} s")


class Run:
    def __init__(self, proc, seconds):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.seconds = seconds

    def json(self):
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line, got {self.out!r}"
        return json.loads(lines[0])

    def error_lines(self):
        return [line for line in self.err.splitlines() if line.startswith("parakit: error:")]


def command_line(args, ranks=None):
    """The argv that runs parakit directly (ranks=None) or under mpirun -np ranks."""
    cmd = [BIN] + list(args)
    if ranks is not None:
        cmd = [MPIEXEC, "-np", str(ranks), "--oversubscribe"] + cmd
    return cmd


def run(args, ranks=None, timeout=120, env=None):
    """Runs parakit directly (ranks=None) or under mpirun -np ranks."""
    started = time.monotonic()
    proc = subprocess.run(command_line(args, ranks), capture_output=True, text=True,
                          timeout=timeout, env=dict(ENV, **(env or {})))
    return Run(proc, time.monotonic() - started)


def start(args, ranks=None, env=None, stderr_path=None):
    """Starts parakit like run() but returns at once: a Popen (text pipes) that a test may
    signal or whose ranks it may kill while it runs. Collect it with finish(). With
    stderr_path, stderr goes to that file instead (a test can watch it while the run goes on;
    finish() still returns it)."""
    return start_command(command_line(args, ranks), dict(ENV, **(env or {})), stderr_path)


def start_command(cmd, env, stderr_path=None):
    """start() for any command line and environment."""
    err = open(stderr_path, "w") if stderr_path else subprocess.PIPE
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    finally:
        if stderr_path:
            err.close()
    proc.started = time.monotonic()
    proc.stderr_path = stderr_path
    return proc


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


PROGRESS = re.compile(r": (\d+)/(\d+) \(\d")


def progress_done(text):
    """The done counts of the farm's --progress lines in `text`, in order. The master prints
    one only after handing every result it counts to the journal (write()), so a journal
    must hold at least the last one."""
    return [int(m.group(1)) for m in PROGRESS.finditer(text)]


def wait_for_progress(proc, at_least, timeout=60):
    """Polls a start()ed run's stderr file until a progress line reports >= at_least done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        done = progress_done(read_text(proc.stderr_path))
        if done and done[-1] >= at_least:
            return done[-1]
        time.sleep(0.05)
    raise AssertionError(f"no progress line with >= {at_least} done (returned {proc.poll()}): "
                         f"{read_text(proc.stderr_path)[-500:]}")


# --progress with a line every 50 ms on a pipe: the tests of each command's progress lines.
FAST_PROGRESS = ["--progress", "--progress-interval", "0.05"]


def progress_lines(test, err, label):
    """The progress lines of `label` in stderr text `err`, after checking them: each one a
    whole line ("label: done/total (x%) ..."), none rewritten with "\r" (stderr is a pipe), the
    last one (only) saying what finished. Returns them."""
    test.assertNotIn("\r", err)
    test.assertTrue(err.endswith("\n"), err[-300:])
    lines = [line for line in err.splitlines() if line.startswith(label + ": ")]
    test.assertTrue(lines, err[-500:])
    final = [line for line in lines if re.match(re.escape(label) + r": finished\b", line)]
    test.assertEqual(final, lines[-1:], err[-800:])
    for line in lines:  # counts, or amounts in MB or GB
        test.assertRegex(line, r": (\d+|\d+\.\d\d)/(\d+|\d+\.\d\d)( [MG]B)? \(\d+\.\d%\)")
    return lines


def run_on_terminal(args, timeout=120):
    """Runs parakit with stderr on a pseudo-terminal (stdout a pipe); returns (code, stdout,
    what the terminal received)."""
    import pty  # POSIX only, as is the rest
    master, slave = pty.openpty()
    proc = subprocess.Popen([BIN] + list(args), stdout=subprocess.PIPE, stderr=slave, env=ENV)
    os.close(slave)
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer has gone
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    out = proc.stdout.read()
    proc.stdout.close()
    proc.wait(timeout=timeout)
    return proc.returncode, out.decode(), received.decode(errors="replace")


def finish(proc, timeout=60):
    """Waits for a start()ed process and returns its Run (seconds counted from start()). If it
    is still running after `timeout` seconds it gets SIGTERM, then SIGKILL, and
    subprocess.TimeoutExpired is raised."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    if getattr(proc, "stderr_path", None):
        err = read_text(proc.stderr_path)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return Run(done, time.monotonic() - proc.started)


def tagged_processes(name, value):
    """Live (not zombie) processes whose environment holds name=value, as {pid: environ dict}.
    Give a run a unique tag in `env` and this finds everything it started (mpirun, ranks,
    shells, their children) and nothing else."""
    marker = f"{name}={value}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            if marker not in environ:
                continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state in (b"Z", b"X"):
            continue
        found[int(entry)] = dict(item.decode(errors="replace").split("=", 1)
                                 for item in environ if b"=" in item)
    return found


def write_npy(path, values, dtype="<f8", shape=None, version=1):
    """Writes a .npy without NumPy: C order, little-endian."""
    shape = (len(values),) if shape is None else tuple(shape)
    shape_text = "(" + "".join(f"{d}," if len(shape) == 1 else f"{d}, " for d in shape).rstrip(" ") + ")"
    if len(shape) > 1:
        shape_text = "(" + ", ".join(str(d) for d in shape) + ")"
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape_text}, }}"
    fmt = {"<f8": "d", "<f4": "f", "<i4": "i", ">f8": "d"}[dtype]
    order = ">" if dtype.startswith(">") else "<"
    prefix = 10 if version == 1 else 12
    pad = (64 - (prefix + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY" + bytes([version, 0]))
        f.write(struct.pack("<H" if version == 1 else "<I", len(header)))
        f.write(header.encode("latin1"))
        f.write(struct.pack(f"{order}{len(values)}{fmt}", *values))


def exact_reference(path, with_abs=False):
    """The independent reference: scripts/ref_sum.py (exact integer arithmetic): the correctly
    rounded sum of the file's values as text, or (sum, sum of |x|) as floats with_abs."""
    out = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "ref_sum.py"), path] +
                         (["--abs"] if with_abs else []),
                         capture_output=True, text=True, check=True).stdout.split()
    return (float(out[0]), float(out[1])) if with_abs else out[0]


def fast_sum_bound(n, workers, sum_abs):
    """The bound parakit's fast sum keeps (numeric/fast_sum.hpp, workloads/sum.hpp): every term
    passes through at most k = ceil(m / 8) + 41 + workers roundings of a sum, m = ceil(n /
    workers) the largest block, so |fast - exact| <= gamma_k * sum|x|, gamma_k = k u / (1 - k u),
    u = 2^-53 (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 4.2)."""
    m = -(-n // workers)
    k = -(-m // 8) + 41 + workers
    u = 2.0 ** -53
    return k * u / (1 - k * u) * sum_abs * (1 + 1e-12)  # sum_abs itself is rounded


def processes_left(name, tag, timeout=10):
    """The processes tagged name=tag still alive after `timeout` seconds ({} normally)."""
    deadline = time.monotonic() + timeout
    while True:
        left = tagged_processes(name, tag)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
