"""CLI tests of `parakit info` and of backend selection."""
import os
import unittest

from parakit_cli import run


class Info(unittest.TestCase):
    def test_plain_run_uses_threads(self):
        r = run(["info", "--json"])
        self.assertEqual(r.code, 0, r.err)
        j = r.json()
        self.assertEqual(j["backend"], "threads")
        self.assertEqual(j["ranks"], 1)
        self.assertEqual(j["threads"], len(os.sched_getaffinity(0)))
        self.assertEqual(len(j["hosts"]), 1)
        for key in ["mpi", "boost", "eigen", "build_type"]:
            self.assertTrue(j[key], key)
        self.assertIn("Open MPI", j["mpi"])

    def test_under_mpirun_one_host_entry_per_rank(self):
        for ranks in [1, 3, 4]:
            r = run(["info", "--json"], ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            j = r.json()
            self.assertEqual((j["backend"], j["ranks"], j["threads"]), ("mpi", ranks, 1))
            self.assertEqual(len(j["hosts"]), ranks)

    def test_slurm_cpus_per_task_sets_threads_under_mpi(self):
        r = run(["info", "--json"], ranks=2, env={"SLURM_CPUS_PER_TASK": "3"})
        self.assertEqual(r.json()["threads"], 3)
        self.assertEqual(r.json()["workers"], 6)

    def test_batch_shell_is_not_a_rank(self):
        r = run(["info", "--json"], env={"SLURM_JOB_ID": "99", "SLURM_CPUS_PER_TASK": "5"})
        self.assertEqual(r.json()["backend"], "threads")

    def test_human_output_lists_hosts(self):
        r = run(["info"], ranks=2)
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(sum(1 for line in r.out.splitlines() if line.startswith("rank ")), 2)
        self.assertIn("boost", r.out)

    def test_explicit_backends(self):
        serial = run(["info", "--json", "--backend", "serial"]).json()
        self.assertEqual((serial["backend"], serial["threads"]), ("serial", 1))
        self.assertEqual(run(["info", "--json", "--backend", "threads", "--threads", "5"]).json()["workers"], 5)
        r = run(["info", "--json", "--backend", "mpi"])  # singleton MPI without a launcher
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(r.json()["ranks"], 1)


if __name__ == "__main__":
    unittest.main()
