"""Cluster tests: a real 3-host cluster on this machine (scripts/local-cluster: network
namespaces on a bridge, slurmctld + one slurmd per host, munge), the slurm/ job scripts run
with sbatch, mpirun across the hosts with the test hostfile, and faults (kill -9 of a rank,
a host's link going down, a resumable farm job cut off and requeued).

Needs root and network namespaces; without them every test is skipped with the reason, and
with CI=true the skip policy (tests/support/run_tests.py) makes that skip a failure. The
cluster is brought down at the end, also when a test fails or the run is interrupted
(SIGTERM, Ctrl-C). Environment: PARAKIT_BIN (the binary), PARAKIT_REPO (the checkout:
scripts/, slurm/, hostfiles/). See tests/cluster/README.md."""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from parakit_cli import ENV, finish, progress_done, start_command, wait_for_progress  # noqa: E402
from farm_reference import Journal  # noqa: E402  (an independent reader of the journal layout)

BIN = os.path.abspath(os.environ.get("PARAKIT_BIN")
                      or shutil.which("parakit") or "build/release/bin/parakit")
REPO = os.path.abspath(os.environ.get("PARAKIT_REPO")
                       or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLUSTER = os.path.join(REPO, "scripts", "local-cluster")
HOSTFILE = os.path.join(REPO, "hostfiles", "local-cluster")
STATE = os.environ.get("PK_CLUSTER_DIR", "/tmp/parakit-cluster")
HOSTS = 3
NET = "10.77.0.0/24"
TAG = "PARAKIT_CLUSTER_TEST_TAG"

# The long farm that the faults interrupt: 1000 tasks of 50 ms (sleeping), 25 s on the two
# workers of 3 ranks; after a fault it resumes with 16 threads per worker rank (~2 s).
LONG_FARM = ["farm", "--demo", "cost", "--cost", "uniform:50ms:50ms", "--cost-mode", "sleep",
             "--tasks", "1000", "--chunk", "1"]
# A progress line every second (the tests wait for one; the default is 10 s).
WITH_PROGRESS = ["--progress", "--progress-interval", "1"]
KEEPALIVE = {"OMPI_MCA_oob_tcp_keepalive_time": "3", "OMPI_MCA_oob_tcp_keepalive_intvl": "1",
             "OMPI_MCA_oob_tcp_keepalive_probes": "3"}
# The farm that the resumable job runs: 300 tasks of 20 ms, 3 s on 2 workers.
RESUMABLE_FARM = ["--demo", "cost", "--cost", "uniform:20ms:20ms", "--cost-mode", "sleep",
                  "--tasks", "300", "--chunk", "1"]


def log(message):
    print(f"\n[cluster] {message}", file=sys.stderr, flush=True)


def cluster_env():
    """The environment for Slurm clients and mpirun: ours (parakit_cli's ENV, allowed to run
    as root), SLURM_CONF of the test cluster, and nothing of an enclosing job or MPI run."""
    env = dict(ENV)
    for name in list(env):
        if name.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "PMIX_", "PMI_", "OMPI_COMM_")):
            del env[name]
    env["SLURM_CONF"] = os.path.join(STATE, "slurm.conf")
    # As `local-cluster env`: without it Open MPI 4.1.4's TCP BTL crashed in MPI_Init in
    # about 1 of 12 srun launches under load (a start-up race over several interfaces).
    env["OMPI_MCA_btl_tcp_if_include"] = NET
    return env


def sh(args, timeout=60, check=True, env=None, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env=env or cluster_env(), **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def namespaces_unavailable():
    """Why this machine cannot build the cluster, or None when it can."""
    if os.geteuid() != 0:
        return "not root (the local cluster needs root for network namespaces and daemons)"
    for tool in ("ip", "nsenter", "unshare", "mpirun"):
        if not shutil.which(tool):
            return f"{tool} not found"
    probe = f"pk-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace (ip netns add: {made.stderr.strip()})"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def mpirun_cmd(np, args, hostfile=HOSTFILE):
    """mpirun across the hosts with the test hostfile, started on node1 (mpirun must be on the
    bridge network) with the hostname node1, ranks one per host (--map-by node)."""
    return ["ip", "netns", "exec", "pk-node1", "unshare", "--uts", "sh", "-c",
            'hostname node1 && exec "$@"', "sh",
            "mpirun", "--hostfile", hostfile, "--map-by", "node", "-np", str(np),
            "--mca", "plm_rsh_agent", f"{CLUSTER} rsh",
            "--mca", "btl", "tcp,self,vader", "--mca", "btl_tcp_if_include", NET,
            "--mca", "oob_tcp_if_include", NET, BIN] + list(args)


def start_mpirun(np, args, env=None, stderr_path=None):
    return start_command(mpirun_cmd(np, args), dict(cluster_env(), **(env or {})), stderr_path)


def ranks_in_host(host, tag):
    """pids of parakit processes in host's network namespace that carry our tag."""
    out = subprocess.run(["ip", "netns", "pids", f"pk-{host}"], capture_output=True,
                         text=True).stdout.split()
    found = []
    for pid in out:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "parakit":
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"{TAG}={tag}".encode() not in f.read().split(b"\0"):
                    continue
        except OSError:
            continue
        found.append(int(pid))
    return found


def wait_for(predicate, timeout, step=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def slurmstepds(job):
    """pids of the slurmstepd processes of a job (titled 'slurmstepd: [JOB.STEP]')."""
    marker = f"slurmstepd: [{job}.".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read().startswith(marker):
                        found.append(int(entry))
            except OSError:
                pass
    return found


def journal_bytes(path):
    """The journal's size: a header of ~40 bytes, then a record of ~25 bytes per task (layout
    in tests/cli/test_farm.py); enough to know that a farm has made progress."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class _Teardown:
    """Brings the cluster down once, from tearDownClass, a class cleanup, atexit or a signal."""
    armed = False
    tmp = None

    @classmethod
    def down(cls):
        if not cls.armed:
            return
        cls.armed = False
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        started = time.monotonic()
        proc = subprocess.run([CLUSTER, "down"], capture_output=True, text=True)
        log(f"down ({time.monotonic() - started:.1f} s): {proc.stderr.strip()}")

    @classmethod
    def on_signal(cls, signum, frame):
        log(f"signal {signum}: bringing the cluster down")
        cls.down()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


class Cluster(unittest.TestCase):
    """Tests run in name order: Slurm jobs first, then mpirun, then the faults (the link test
    last, since it takes a host off the network for a while)."""

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        reason = namespaces_unavailable()
        if reason:  # the skip policy (run_tests.py) makes this a failure under CI=true
            log(f"SKIPPED, all cluster tests: {reason}")
            raise unittest.SkipTest(reason)
        if not os.access(BIN, os.X_OK):
            raise AssertionError(f"no parakit binary at {BIN} (set PARAKIT_BIN)")
        cls.addClassCleanup(_Teardown.down)
        _Teardown.armed = True
        atexit.register(_Teardown.down)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _Teardown.on_signal)
        cls.tmp = tempfile.mkdtemp(prefix="parakit-cluster-test-")
        _Teardown.tmp = cls.tmp  # removed with the cluster
        # A clean start: whatever cluster or leftovers there are go first.
        sh([CLUSTER, "down"], timeout=60)
        started = time.monotonic()
        sh([CLUSTER, "up", "--hosts", str(HOSTS)], timeout=300)
        log(f"up in {time.monotonic() - started:.1f} s")
        cls.fake_repo = cls._fake_repo()
        cls.ref = {}

    @classmethod
    def tearDownClass(cls):
        _Teardown.down()
        log(f"class total {time.monotonic() - cls.t0:.1f} s")

    # --- helpers -----------------------------------------------------------------------------

    @classmethod
    def _fake_repo(cls):
        """A directory tree like a checkout (build/release/bin/parakit -> the binary under test)
        whose subdirectory the jobs are submitted from, with no PARAKIT and no parakit on the
        PATH: the scripts must find the binary by walking up from SLURM_SUBMIT_DIR."""
        root = os.path.join(cls.tmp, "repo")
        os.makedirs(os.path.join(root, "build", "release", "bin"))
        os.symlink(BIN, os.path.join(root, "build", "release", "bin", "parakit"))
        sub = os.path.join(root, "runs", "today")
        os.makedirs(sub)
        return sub

    def submit_env(self, extra=None):
        env = cluster_env()
        for name in ("PARAKIT", "PARAKIT_REPO", "PARAKIT_BIN"):
            env.pop(name, None)
        env["PATH"] = os.pathsep.join(
            d for d in env.get("PATH", "").split(os.pathsep)
            if d and not os.access(os.path.join(d, "parakit"), os.X_OK))
        env.update(extra or {})
        return env

    def sbatch(self, script, options=(), args=(), env=None):
        """Submits slurm/SCRIPT from the fake repository's subdirectory; returns (job id,
        stdout file, stderr file)."""
        name = f"{os.path.splitext(script)[0]}-{uuid.uuid4().hex[:6]}"
        out = os.path.join(self.tmp, name + ".out")
        err = os.path.join(self.tmp, name + ".err")
        proc = sh(["sbatch", "--parsable", "-o", out, "-e", err] + list(options)
                  + [os.path.join(REPO, "slurm", script)] + list(args),
                  env=self.submit_env(env), cwd=self.fake_repo)
        return proc.stdout.strip().split(";")[0], out, err

    def job_state(self, job):
        """squeue's 'STATE REASON' of a job, or '' once it has left the queue."""
        proc = sh(["squeue", "-h", "-j", job, "-o", "%T %r"], check=False)
        if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
            raise AssertionError(f"squeue failed: {proc.stderr}")
        return proc.stdout.strip()

    def scontrol_job(self, job):
        text = sh(["scontrol", "show", "job", job]).stdout
        return dict(re.findall(r"(\w+)=(\S*)", text))

    def wait_job(self, job, timeout=60, out=None, err=None):
        """Polls squeue every 0.2 s until the job is gone; returns its final scontrol fields."""
        deadline = time.monotonic() + timeout
        while self.job_state(job):
            if time.monotonic() > deadline:
                sh(["scancel", job], check=False)
                self.fail(f"job {job} still queued after {timeout} s: {self.job_state(job)}\n"
                          + self.read(out) + self.read(err))
            time.sleep(0.2)
        return self.scontrol_job(job)

    @staticmethod
    def read(path):
        if not path or not os.path.exists(path):
            return ""
        with open(path) as f:
            return f"--- {os.path.basename(path)}\n{f.read()}"

    def run_job(self, script, options=(), args=(), env=None, timeout=60):
        started = time.monotonic()
        job, out, err = self.sbatch(script, options, args, env)
        info = self.wait_job(job, timeout, out, err)
        report = self.read(out) + self.read(err)
        self.assertEqual((info.get("JobState"), info.get("ExitCode")), ("COMPLETED", "0:0"),
                         f"job {job} ({script}):\n{report}")
        log(f"{script}: job {job} done in {time.monotonic() - started:.1f} s")
        with open(out) as f:
            return json_lines(f.read()), report

    def direct(self, args):
        """The single-node result: parakit run directly (threads backend)."""
        proc = sh([BIN] + list(args) + ["--json"], env=cluster_env())
        return json_lines(proc.stdout)[-1]

    def clean_long_farm_checksum(self):
        if "long" not in self.ref:
            self.ref["long"] = self.direct(LONG_FARM + ["--threads", "50"])
            self.assertEqual(self.ref["long"]["done"], 1000)
        return self.ref["long"]["checksum"]

    def assert_journal_holds_what_was_reported(self, journal, err):
        """Every result the master had reported (its last --progress line, printed only after
        the results it counts were written to the journal) is in the journal."""
        reported = progress_done(err)
        self.assertTrue(reported and reported[-1] >= 20, err)
        scanned = Journal(journal)
        self.assertGreaterEqual(len(scanned.records), reported[-1], err)
        log(f"{os.path.basename(journal)}: {len(scanned.records)} records, the master had "
            f"reported {reported[-1]}")

    def resume_across_hosts(self, journal):
        proc = subprocess.run(mpirun_cmd(3, LONG_FARM + ["--journal", journal, "--resume",
                                                         "--threads", "16", "--json"]),
                              capture_output=True, text=True, timeout=120, env=cluster_env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json_lines(proc.stdout)[-1]

    # --- Slurm: each script against the single-node result -----------------------------------

    def test_10_sum_sbatch(self):
        ref = self.direct(["sum", "--n", "1e6", "--mode", "exact"])
        results, report = self.run_job("sum.sbatch", ["--nodes=3", "--ntasks-per-node=1"],
                                       env={"N": "1e6"})
        self.assertEqual(len(results), 1, report)
        self.assertEqual((results[0]["backend"], results[0]["ranks"]), ("mpi", 3), report)
        self.assertEqual(results[0]["sum_hex"], ref["sum_hex"], report)

    def test_11_farm_sbatch(self):
        ref = self.direct(["farm"])
        results, report = self.run_job("farm.sbatch", ["--nodes=3", "--ntasks-per-node=1"])
        self.assertEqual(len(results), 1, report)
        r = results[0]
        self.assertEqual((r["backend"], r["ranks"], r["mode"]), ("mpi", 3, "queue"), report)
        self.assertEqual((r["done"], r["failed"], r["result"]), (10000, 0, 49995000), report)
        self.assertEqual(r["checksum"], ref["checksum"], report)

    def test_12_kde_sbatch(self):
        ref = self.direct(["kde"])
        results, report = self.run_job("kde.sbatch", ["--nodes=3", "--ntasks-per-node=1"])
        self.assertEqual(len(results), 1, report)
        r = results[0]
        self.assertEqual((r["backend"], r["ranks"]), ("mpi", 3), report)
        self.assertEqual(len(r["results"]), len(ref["results"]))
        self.assertEqual([x["count"] for x in r["results"]], [x["count"] for x in ref["results"]])
        for got, want in zip(r["results"], ref["results"]):
            self.assertAlmostEqual(got["h"], want["h"], places=12)

    def test_12b_kde_sbatch_sharded_input(self):
        """kde.sbatch on an input file across 3 hosts: each rank reads only its rows of a CSV
        (COLS-less), of a raw .bin (COLS=2) and of an HDF5 dataset (DATASET, collective reads
        with parallel HDF5); the grid's counts equal the single-node run's."""
        import h5py
        import numpy as np
        x = np.random.default_rng(4).standard_normal((30001, 2))
        csv = os.path.join(self.tmp, "shard.csv")
        np.savetxt(csv, x, delimiter=",", header="a,b", comments="", fmt="%.17g")
        binary = os.path.join(self.tmp, "shard.bin")
        x.astype("<f8").tofile(binary)
        hdf5 = os.path.join(self.tmp, "shard.h5")
        with h5py.File(hdf5, "w") as f:
            f.create_dataset("run/samples", data=x, chunks=(1000, 2), compression="gzip")
        grid = ["--grid", "25x25", "--widths", "0.2,0.5"]
        ref = self.direct(["kde", "--input", csv] + grid)
        for env in ({"INPUT": csv}, {"INPUT": binary, "COLS": "2"},
                    {"INPUT": hdf5, "DATASET": "/run/samples"}):
            results, report = self.run_job("kde.sbatch", ["--nodes=3", "--ntasks-per-node=1"],
                                           args=grid, env=env)
            self.assertEqual(len(results), 1, report)
            r = results[0]
            self.assertEqual((r["ranks"], r["n"]), (3, 30001), report)
            self.assertEqual(r["counts"], ref["counts"], report)
            self.assertEqual(len(r["peak_rss_bytes"]), 3, report)

    def test_13_multinode_sbatch(self):
        ref = self.direct(["sum", "--n", "1e6", "--mode", "exact"])
        results, report = self.run_job("multinode.sbatch", ["--nodes=3", "--ntasks-per-node=1"],
                                       env={"N": "1e6"})
        self.assertEqual(len(results), 2, report)
        info, total = results
        self.assertEqual(info["command"], "info", report)
        self.assertEqual(sorted(info["hosts"]), [f"node{i}" for i in range(1, HOSTS + 1)], report)
        self.assertEqual((total["ranks"], total["sum_hex"]), (3, ref["sum_hex"]), report)

    def test_14_hybrid_sbatch(self):
        ref = self.direct(["sum", "--n", "1e6", "--mode", "exact"])
        results, report = self.run_job(
            "hybrid.sbatch", ["--nodes=3", "--ntasks-per-node=1", "--cpus-per-task=2"],
            env={"N": "1e6"})
        self.assertEqual(len(results), 1, report)
        r = results[0]
        self.assertEqual((r["backend"], r["ranks"], r["threads"]), ("mpi", 3, 2), report)
        self.assertEqual(r["sum_hex"], ref["sum_hex"], report)

    def test_16_scaling_sbatch(self):
        """The bench across 3 hosts in one job step leaves one JSON file with every p."""
        tiny = ["--n", "2^16", "--farm-tasks", "12", "--farm-cost", "uniform:0.1ms:0.1ms",
                "--farm-empty-tasks", "200", "--kde-samples", "300", "--kde-grid", "8x8",
                "--pi-samples", "2^14"]
        _, report = self.run_job("scaling.sbatch", ["--nodes=3", "--ntasks-per-node=1"],
                                 args=tiny, env={"REPS": "2"})
        self.assertIn("parakit bench: strong scaling, mpi, p = 1..3", report)
        files = [f for f in os.listdir(self.fake_repo) if f.startswith("parakit-scaling-")]
        self.assertEqual(len(files), 1, files)  # OUT's default, in the submit directory
        self.assertRegex(files[0], r"^parakit-scaling-\d+\.json$")
        with open(os.path.join(self.fake_repo, files[0])) as f:
            doc = json.load(f)
        self.assertEqual((doc["backend"], doc["steps"], doc["reps"]), ("mpi", [1, 2, 3], 2))
        self.assertEqual(sorted(doc["machine"]["hosts"]),
                         [f"node{i}" for i in range(1, HOSTS + 1)], report)
        names = {s["workload"] for s in doc["samples"]}
        self.assertEqual(names, {"sum", "sum-probe", "farm", "farm-empty", "rtt", "kde-grid",
                                 "kde-naive", "kde-cv", "kde-gauss-grid", "kde-gauss-naive",
                                 "kde-gauss-cv", "pi"})  # LIMITS defaults to 1
        self.assertEqual(len([s for s in doc["samples"] if s["workload"] == "sum"]), 2 * 3)

    def test_15_resumable_farm_requeued(self):
        """scancel --batch --signal=TERM (what --signal=B:TERM@60 does at the walltime warning):
        the script forwards TERM to the step, the farm stops and flushes, the script requeues
        the job, and the requeued job resumes and completes with a clean run's checksum."""
        clean = self.direct(["farm"] + RESUMABLE_FARM + ["--threads", "50"])
        journal = os.path.join(self.fake_repo, "resumable.journal")
        started = time.monotonic()
        job, out, err = self.sbatch("farm-resumable.sbatch", ["--nodes=3", "--ntasks-per-node=1"],
                                    RESUMABLE_FARM, env={"JOURNAL": journal})
        # cut it off once the farm runs and has journaled some results
        wait_for(lambda: journal_bytes(journal) > 600, 30, 0.05, "the farm's first results")
        sh(["scancel", "--batch", "--signal=TERM", job])
        cut = time.monotonic()
        # the job is requeued: it leaves RUNNING and waits for its BeginTime. Slurm holds a
        # requeued job back for the job credential's lifetime (~121 s); that wait has nothing
        # to do with the script, so the test makes it eligible at once.
        def requeued():
            state = self.job_state(job)
            if not state:
                self.fail(f"job {job} ended instead of being requeued\n" + self.read(out) + self.read(err))
            return state.startswith("PENDING") and self.scontrol_job(job).get("Restarts") == "1"
        wait_for(requeued, 30, 0.2, f"job {job} to be requeued")
        requeued_at = time.time()
        log(f"resumable: requeued {time.monotonic() - cut:.1f} s after the TERM")
        # Before letting it start early: the old instance must be gone from the nodes, and the
        # new job credential must be from a later second than the requeue (slurmd revoked the
        # old credentials at the requeue, with 1 s resolution); otherwise slurmctld logs
        # "Killing non-startable batch JobId=...: Job credential revoked" and the job FAILS.
        wait_for(lambda: not slurmstepds(job), 30, 0.1, f"the steps of job {job} to end")
        while int(time.time()) <= int(requeued_at):
            time.sleep(0.05)
        sh(["scontrol", "update", f"JobId={job}", "StartTime=now"])
        info = self.wait_job(job, 60, out, err)
        report = self.read(out) + self.read(err)
        self.assertEqual((info.get("JobState"), info.get("ExitCode"), info.get("Restarts")),
                         ("COMPLETED", "0:0", "1"), report)
        with open(out) as f:
            runs = json_lines(f.read())
        self.assertEqual(len(runs), 2, report)
        first, second = runs
        self.assertTrue(first["stopped"], report)
        self.assertEqual(first["signal"], "SIGTERM", report)
        self.assertLess(first["done"], 300, report)
        self.assertGreater(first["done"], 0, report)
        self.assertEqual((second["done"], second["failed"], second["not_run"]), (300, 0, 0), report)
        self.assertEqual(second["resumed"], first["done"], report)
        self.assertEqual(second["checksum"], clean["checksum"], report)
        self.assertIn("requeueing", report)
        log(f"resumable: {first['done']} + {300 - first['done']} tasks, "
            f"{time.monotonic() - started:.1f} s in all")

    def test_17_sigterm_to_the_step_then_resume(self):
        """scancel --signal=TERM <job>.0: slurmstepd sends TERM to every task of the farm's step
        on all 3 hosts. The job must end within 10 s, the journal must hold every result the
        master reported, and a second job with --resume must finish with a clean checksum."""
        clean = self.direct(["farm"] + RESUMABLE_FARM + ["--threads", "50"])
        journal = os.path.join(self.fake_repo, "step-term.journal")
        job, out, err = self.sbatch("farm.sbatch", ["--nodes=3", "--ntasks-per-node=1"],
                                    RESUMABLE_FARM, env={"JOURNAL": journal})
        wait_for(lambda: journal_bytes(journal) > 600, 30, 0.05, "the farm's first results")
        sh(["scancel", "--signal=TERM", f"{job}.0"])
        termed = time.monotonic()
        info = self.wait_job(job, 30, out, err)
        seconds = time.monotonic() - termed
        report = self.read(out) + self.read(err)
        log(f"TERM to step {job}.0: the job ended in {seconds:.1f} s")
        self.assertLess(seconds, 10, f"TERM to the step: the job ended {seconds:.1f} s after "
                                      f"(the bound is 10 s)\n{report}")
        # the farm exits 143 after flushing; srun passes it on and the script (set -e) too
        self.assertEqual((info.get("JobState"), info.get("ExitCode")), ("FAILED", "143:0"), report)
        with open(out) as f:
            runs = json_lines(f.read())
        self.assertEqual(len(runs), 1, report)
        first = runs[0]
        self.assertTrue(first["stopped"], report)
        self.assertEqual(first["signal"], "SIGTERM", report)
        self.assertGreater(first["done"], 0, report)
        self.assertLess(first["done"], 300, report)
        scanned = Journal(journal)
        self.assertEqual((len(scanned.records), scanned.bad_bytes), (first["done"], 0), report)
        results, report = self.run_job("farm.sbatch", ["--nodes=3", "--ntasks-per-node=1"],
                                       RESUMABLE_FARM + ["--resume"], env={"JOURNAL": journal})
        self.assertEqual(len(results), 1, report)
        second = results[0]
        self.assertEqual((second["done"], second["failed"], second["resumed"]),
                         (300, 0, first["done"]), report)
        self.assertEqual(second["checksum"], clean["checksum"], report)

    # --- mpirun across the hosts --------------------------------------------------------------

    def test_20_mpirun_info_lists_three_hosts(self):
        proc = subprocess.run(mpirun_cmd(3, ["info", "--json"]), capture_output=True, text=True,
                              timeout=60, env=cluster_env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        info = json_lines(proc.stdout)[-1]
        self.assertEqual((info["backend"], info["ranks"]), ("mpi", 3))
        self.assertEqual(sorted(info["hosts"]), ["node1", "node2", "node3"], proc.stdout)

    # --- faults ---------------------------------------------------------------------------

    def test_30_kill_rank_ends_job_then_resume(self):
        checksum = self.clean_long_farm_checksum()
        tag = uuid.uuid4().hex
        journal = os.path.join(self.tmp, "kill.journal")
        proc = start_mpirun(3, LONG_FARM + ["--journal", journal, "--json"] + WITH_PROGRESS,
                            env={TAG: tag}, stderr_path=os.path.join(self.tmp, "kill.err"))
        try:
            pids = wait_for(lambda: ranks_in_host("node2", tag), 20, 0.1, "the rank on node2")
            wait_for_progress(proc, 20, timeout=20)  # the master's line after ~1 s
            os.kill(pids[0], signal.SIGKILL)
            killed = time.monotonic()
            run = finish(proc, timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        seconds = time.monotonic() - killed
        log(f"kill -9 of rank pid {pids[0]} on node2: mpirun ended in {seconds:.1f} s")
        self.assertNotEqual(run.code, 0, run.err)
        self.assertLess(seconds, 10, f"kill -9 of a rank: mpirun ended {seconds:.1f} s after "
                                     f"(the bound is 10 s)\n{run.err}")
        self.assertRegex(run.err, r"process rank 1 with PID \d+ on node node2 exited on signal 9",
                         run.err)
        self.assert_journal_holds_what_was_reported(journal, run.err)
        resumed = self.resume_across_hosts(journal)
        self.assertGreater(resumed["resumed"], 0)
        self.assertEqual((resumed["done"], resumed["failed"]), (1000, 0))
        self.assertEqual(resumed["checksum"], checksum)

    def test_35_kill_9_of_the_master_mid_record_then_resume(self):
        """The master (rank 0, node1) writes half of its 100th journal record and dies of
        SIGKILL (the PARAKIT_FAULT drill); mpirun must end the ranks on node2 and node3 within
        10 s, the journal must hold the 99 records before the torn one, and a resume across
        the hosts must finish with a clean run's checksum."""
        checksum = self.clean_long_farm_checksum()
        tag = uuid.uuid4().hex
        journal = os.path.join(self.tmp, "master.journal")
        proc = start_mpirun(3, LONG_FARM + ["--journal", journal, "--json"],
                            env={TAG: tag, "PARAKIT_FAULT": "journal-record#100:kill@0"})
        try:
            run = finish(proc, timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        seconds = time.time() - os.stat(journal).st_mtime  # the half record: the last write
        log(f"kill -9 of the master mid-record: mpirun ended {seconds:.1f} s after it")
        self.assertNotEqual(run.code, 0, run.err)
        self.assertRegex(run.err, r"process rank 0 .*on node node1 exited on signal 9", run.err)
        self.assertLess(seconds, 10, f"kill -9 of the master: mpirun ended {seconds:.1f} s after "
                                     f"(the bound is 10 s)\n{run.err}")
        for host in ("node2", "node3"):
            self.assertEqual(wait_for(lambda: not ranks_in_host(host, tag), 5, 0.1,
                                      f"the rank on {host} to end"), True)
        scanned = Journal(journal)
        self.assertEqual(len(scanned.records), 99)
        self.assertGreater(scanned.bad_bytes, 0)
        resumed = self.resume_across_hosts(journal)
        self.assertEqual(resumed["resumed"], 99)
        self.assertEqual((resumed["done"], resumed["failed"]), (1000, 0))
        self.assertEqual(resumed["checksum"], checksum)

    def test_40_link_down_ends_job_then_resume(self):
        checksum = self.clean_long_farm_checksum()
        tag = uuid.uuid4().hex
        journal = os.path.join(self.tmp, "link.journal")
        proc = start_mpirun(3, LONG_FARM + ["--journal", journal, "--json"] + WITH_PROGRESS,
                            env=dict(KEEPALIVE, **{TAG: tag}),
                            stderr_path=os.path.join(self.tmp, "link.err"))
        veth = "pk-veth3"
        try:
            wait_for(lambda: ranks_in_host("node3", tag), 20, 0.1, "the rank on node3")
            wait_for_progress(proc, 20, timeout=20)  # the master's line after ~1 s
            sh(["ip", "link", "set", veth, "down"])
            down = time.monotonic()
            run = finish(proc, timeout=60)
            seconds = time.monotonic() - down
        finally:
            if proc.poll() is None:
                proc.kill()
            subprocess.run(["ip", "link", "set", veth, "up"], capture_output=True)
        log(f"{veth} down: mpirun ended in {seconds:.1f} s")
        # whatever of the job is left on node3 (it may not learn of the end at once)
        for pid in ranks_in_host("node3", tag):
            os.kill(pid, signal.SIGKILL)
        self.assertNotEqual(run.code, 0, run.err)
        self.assertLess(seconds, 15, f"link down: mpirun ended {seconds:.1f} s after (the bound "
                                     f"is 15 s)\n{run.err}")
        self.assertIn("lost communication", run.err)
        self.assertIn("node3", run.err)
        self.assert_journal_holds_what_was_reported(journal, run.err)
        resumed = self.resume_across_hosts(journal)
        self.assertGreater(resumed["resumed"], 0)
        self.assertEqual((resumed["done"], resumed["failed"]), (1000, 0))
        self.assertEqual(resumed["checksum"], checksum)
        # the host is back: Slurm still sees all hosts idle
        wait_for(lambda: sh(["sinfo", "-h", "-N", "-o", "%N %T"]).stdout.count("idle") >= HOSTS,
                 20, 0.5, "all hosts idle again")


if __name__ == "__main__":
    unittest.main()
