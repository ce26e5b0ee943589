"""The skip policy tested on itself: under CI=true a skip fails the run unless its reason is on
tests/allowed_skips.txt, and a permitted skip is recorded for the list at the end of the CI
log. Checked on the GoogleTest side (a probe binary with the policy's main), on the Python
side (run_tests.py on a module that skips, and on test_kde with NumPy hidden from the
interpreter), and on CMake's choice of interpreter (a module no interpreter has)."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
RUNNER = os.path.join(TESTS, "support", "run_tests.py")
PROBE = os.environ["PARAKIT_SKIP_PROBE"]
CMAKE = os.environ.get("PARAKIT_CMAKE", "cmake")
SKIPPED_ALL = 77


def run(args, ci, cwd=None, **env):
    full = dict(os.environ)
    full.pop("CI", None)
    if ci:
        full["CI"] = "true"
    # The probes' skips are not the suite's: they never reach the run's list of skips.
    full["PARAKIT_SKIP_LOG"] = ""
    full.update(env)
    return subprocess.run(args, capture_output=True, text=True, timeout=600, env=full, cwd=cwd)


class GoogleTestSide(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.tmp.name, "skips.log")

    def tearDown(self):
        self.tmp.cleanup()

    def probe(self, reason, ci, only_skips=True):
        args = [PROBE] + (["--gtest_filter=Probe.Skips"] if only_skips else [])
        return run(args, ci, PROBE_SKIP_REASON=reason, PARAKIT_SKIP_LOG=self.log)

    def logged(self):
        return open(self.log).read() if os.path.exists(self.log) else ""

    def test_a_skip_that_is_not_a_hardware_fact_fails_under_ci(self):
        r = self.probe("root reads everything", ci=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("skipped under CI=true: root reads everything", r.stderr)
        self.assertNotIn("[  SKIPPED ]", r.stdout, "ctest would take that line for a skip")
        self.assertEqual(self.logged(), "")
        # ... also when other tests of the binary pass.
        self.assertEqual(self.probe("root reads everything", ci=True, only_skips=False)
                         .returncode, 1)

    def test_an_allowed_skip_passes_under_ci_and_is_recorded(self):
        reason = "this CPU has no AVX-512 (its best level is AVX2)"
        r = self.probe(reason, ci=True)
        self.assertEqual(r.returncode, SKIPPED_ALL, r.stdout + r.stderr)
        self.assertIn(f"skipped Probe.Skips: {reason}", r.stdout)
        self.assertEqual(self.logged(), f"Probe.Skips: {reason}\n")
        self.assertEqual(self.probe(reason, ci=True, only_skips=False).returncode, 0)

    def test_outside_ci_a_skip_is_a_skip(self):
        r = self.probe("gnuplot is not installed", ci=False)
        self.assertEqual(r.returncode, SKIPPED_ALL, r.stdout + r.stderr)
        self.assertIn("gnuplot is not installed", r.stdout)


MODULE = '''
import unittest

class T(unittest.TestCase):
    def test_skips(self):
        self.skipTest("{reason}")
'''

# As the cluster test does when the machine cannot build the cluster: the whole class skips.
CLASS_MODULE = '''
import unittest

class T(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest("{reason}")

    def test_one(self):
        pass

    def test_two(self):
        pass
'''


class PythonSide(unittest.TestCase):
    def run_module(self, reason, ci, module=MODULE):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "probe_module.py"), "w") as f:
                f.write(module.format(reason=reason))
            log = os.path.join(tmp, "skips.log")
            r = run([sys.executable, RUNNER, "probe_module"], ci, cwd=tmp, PARAKIT_SKIP_LOG=log)
            return r, (open(log).read() if os.path.exists(log) else "")

    def test_a_skip_fails_under_ci_unless_allowed(self):
        r, logged = self.run_module("numpy is not installed", ci=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("skipped under CI=true: numpy is not installed", r.stderr)
        self.assertEqual(logged, "")
        r, logged = self.run_module("this CPU has no AVX2", ci=True)
        self.assertEqual(r.returncode, SKIPPED_ALL, r.stderr)
        self.assertIn("this CPU has no AVX2", logged)

    def test_a_whole_class_that_skips(self):
        reason = "not root (the local cluster needs root)"
        r, _ = self.run_module(reason, ci=True, module=CLASS_MODULE)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"skipped under CI=true: {reason}", r.stderr)
        r, logged = self.run_module(reason, ci=False, module=CLASS_MODULE)
        self.assertEqual(r.returncode, SKIPPED_ALL, r.stderr)
        self.assertIn(reason, logged)

    def test_outside_ci_a_skip_is_a_skip_with_its_reason(self):
        r, _ = self.run_module("numpy is not installed", ci=False)
        self.assertEqual(r.returncode, SKIPPED_ALL, r.stderr)
        self.assertIn("skipped probe_module.T.test_skips: numpy is not installed", r.stderr)

    def test_kde_with_numpy_hidden_fails_under_ci(self):
        """The acceptance test: NumPy (and so scikit-learn) hidden from the interpreter makes
        the KDE suite's reference checks fail the run under CI=true, not pass by skipping."""
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "numpy"))
            with open(os.path.join(tmp, "numpy", "__init__.py"), "w") as f:
                f.write("raise ImportError('numpy hidden by test_skip_policy')\n")
            tests = ["test_kde.KdeAgainstSeedLoop", "test_kde.KdeAgainstScikitLearn"]
            cli = os.path.join(TESTS, "cli")
            hidden = run([sys.executable, RUNNER] + tests, ci=True, cwd=cli, PYTHONPATH=tmp)
            self.assertEqual(hidden.returncode, 1, hidden.stderr[-3000:])
            self.assertIn("skipped under CI=true: numpy is not installed", hidden.stderr)
            outside = run([sys.executable, RUNNER] + tests, ci=False, cwd=cli, PYTHONPATH=tmp)
            self.assertEqual(outside.returncode, SKIPPED_ALL, outside.stderr[-3000:])


class InterpreterChoice(unittest.TestCase):
    def configure(self, ci):
        return run([CMAKE, "-DPARAKIT_PYTHON_MODULES=parakit_no_such_module", "-P",
                    os.path.join(HERE, "find_python_probe.cmake")], ci)

    def test_no_interpreter_with_the_modules_fails_configure_under_ci(self):
        r = self.configure(ci=True)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("imports parakit_no_such_module", r.stderr)
        r = self.configure(ci=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("will skip", r.stderr)


if __name__ == "__main__":
    unittest.main()
