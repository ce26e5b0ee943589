"""The bad-input table: every subcommand with malformed arguments and files. Each case is
(id, argv, files, expect): argv may name files of the case's own directory as {d}/NAME;
`files` maps NAME to bytes, or to a function that writes {d}/NAME (given the directory); the
one `parakit: error:` line must contain `expect` (what was wrong), or expect[launch] where
the launches differ."""
import os
import struct
import subprocess

from parakit_cli import BIN, ENV, write_npy


def npy_bytes(header, payload=b"", magic=b"\x93NUMPY", version=1):
    """A .npy file with a hand-written header (for lying, odd or broken headers)."""
    prefix = 10 if version == 1 else 12
    pad = (64 - (prefix + len(header) + 1) % 64) % 64
    text = (header + " " * pad + "\n").encode("latin1")
    size = struct.pack("<H" if version == 1 else "<I", len(text))
    return magic + bytes([version, 0]) + size + text + payload


def f64(values):
    return struct.pack(f"<{len(values)}d", *values)


def npy(values, dtype="<f8", shape=None):
    def write(path):
        write_npy(path, values, dtype=dtype, shape=shape)
    return write


def journal(tasks, corrupt=None):
    """A farm journal of the queue demo with `tasks` tasks; corrupt=offset flips a byte there
    (negative: from the end)."""
    def write(path):
        subprocess.run([BIN, "farm", "--demo", "queue", "--tasks", str(tasks), "--threads", "1",
                        "--journal", path], check=True, env=ENV, capture_output=True)
        if corrupt is not None:
            with open(path, "r+b") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(corrupt if corrupt >= 0 else size + corrupt)
                byte = f.read(1)
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([byte[0] ^ 0x5A]))
    return write


def h5(datasets, truncate=None):
    """An HDF5 file written by h5py holding {name: array-like}; truncate=k keeps its first k
    bytes (a broken file)."""
    def write(path):
        import h5py  # only the HDF5 cases need it
        import numpy
        with h5py.File(path, "w") as f:
            for name, values in datasets.items():
                f.create_dataset(name, data=numpy.asarray(values))
        if truncate is not None:
            os.truncate(path, truncate)
    return write


CSV_OK = b"x,y\n0.1,0.2\n0.3,0.4\n0.5,0.6\n"
CMDS = b"echo one\necho two\n"

CASES = [
    # --- common options ---------------------------------------------------------------------
    ("unknown-subcommand", ["frobnicate"], {}, "frobnicate"),
    ("unknown-option", ["sum", "--bogus"], {}, "--bogus"),
    ("unknown-backend", ["sum", "--backend", "gpu"], {}, "backend 'gpu'"),
    ("threads-zero", ["sum", "--threads", "0"], {}, "--threads"),
    ("progress-interval-zero", ["sum", "--progress-interval", "0"], {}, "--progress-interval"),
    ("progress-interval-negative", ["kde", "--progress-interval", "-1"], {},
     "--progress-interval"),
    ("progress-interval-garbage", ["farm", "--demo", "queue", "--progress-interval", "often"],
     {}, "--progress-interval"),
    ("progress-interval-bench-zero", ["bench", "pi", "--progress-interval", "0s"], {},
     "--progress-interval"),
    ("threads-negative", ["sum", "--threads", "-3"], {}, "--threads"),
    ("threads-not-a-number", ["sum", "--threads", "many"], {}, "--threads"),
    # --- sum --------------------------------------------------------------------------------
    ("sum-n-fraction", ["sum", "--n", "1.5"], {}, "--n"),
    ("sum-n-negative", ["sum", "--n", "-5"], {}, "--n"),
    ("sum-n-not-a-number", ["sum", "--n", "lots"], {}, "--n"),
    ("sum-n-too-large-for-memory", ["sum", "--n", "1e15"], {}, "memory"),
    ("sum-n-overflow", ["sum", "--n", "2^70"], {}, "--n"),
    ("sum-dist-unknown", ["sum", "--dist", "cauchy"], {}, "distribution 'cauchy'"),
    ("sum-mode-unknown", ["sum", "--mode", "sloppy"], {}, "--mode"),
    ("sum-repeat-zero", ["sum", "--repeat", "0"], {}, "--repeat"),
    ("sum-input-missing", ["sum", "--input", "{d}/nope.npy"], {}, "nope.npy"),
    ("sum-input-empty", ["sum", "--input", "{d}/empty.npy"], {"empty.npy": b""}, "empty.npy"),
    ("sum-input-directory", ["sum", "--input", "{d}/sub.npy"], {"sub.npy": "dir"}, "sub.npy"),
    ("sum-input-below-a-file", ["sum", "--input", "{d}/f.npy/x.npy"], {"f.npy": b"x"}, "x.npy"),
    ("sum-input-text-not-numbers", ["sum", "--input", "{d}/a.txt"], {"a.txt": b"1,2\n3,x\n"},
     "a.txt:2:2"),
    ("sum-npy-wrong-dtype", ["sum", "--input", "{d}/i.npy"], {"i.npy": npy([1, 2, 3], "<i4")},
     "i.npy"),
    ("sum-npy-big-endian", ["sum", "--input", "{d}/b.npy"], {"b.npy": npy([1.0, 2.0], ">f8")},
     "b.npy"),
    ("sum-npy-truncated", ["sum", "--input", "{d}/t.npy"],
     {"t.npy": npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (100,), }",
                         f64([1.0] * 50))}, "t.npy"),
    ("sum-npy-lying-header", ["sum", "--input", "{d}/l.npy"],
     {"l.npy": npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }",
                         f64([1.0] * 4))}, "l.npy"),
    ("sum-npy-bad-magic", ["sum", "--input", "{d}/m.npy"],
     {"m.npy": npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                         f64([1.0, 2.0]), magic=b"\x93NUMPX")}, "m.npy"),
    ("sum-npy-fortran-order", ["sum", "--input", "{d}/o.npy"],
     {"o.npy": npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
                         f64([1.0] * 4))}, "o.npy"),
    ("sum-npy-garbage-header", ["sum", "--input", "{d}/g.npy"],
     {"g.npy": npy_bytes("{'descr': <f8 fortran_order shape", f64([1.0]))}, "g.npy"),
    ("sum-npy-header-length-past-end", ["sum", "--input", "{d}/h.npy"],
     {"h.npy": b"\x93NUMPY\x01\x00\xff\xff{'descr'"}, "h.npy"),
    ("sum-save-data-missing-directory", ["sum", "--n", "1000", "--save-data", "{d}/no/x.npy"], {},
     {"threads": "x.npy", "mpirun-np3": "--save-data needs a single process"}),
    # --- farm -------------------------------------------------------------------------------
    ("farm-demo-unknown", ["farm", "--demo", "juggle"], {}, "--demo"),
    ("farm-demo-and-commands", ["farm", "--demo", "queue", "--commands", "{d}/c.txt"],
     {"c.txt": CMDS}, "--commands"),
    ("farm-tasks-negative", ["farm", "--demo", "queue", "--tasks", "-1"], {}, "--tasks"),
    ("farm-tasks-not-a-number", ["farm", "--demo", "queue", "--tasks", "x1"], {}, "--tasks"),
    ("farm-tasks-too-many", ["farm", "--demo", "queue", "--tasks", "2^40"], {}, "--tasks"),
    ("farm-cost-missing-part", ["farm", "--demo", "cost", "--cost", "uniform:1ms"], {}, "--cost"),
    ("farm-cost-low-above-high", ["farm", "--demo", "cost", "--cost", "uniform:2ms:1ms"], {},
     "--cost"),
    ("farm-cost-bad-unit", ["farm", "--demo", "cost", "--cost", "uniform:1xs:2ms"], {}, "--cost"),
    ("farm-cost-negative", ["farm", "--demo", "cost", "--cost", "ramp:-1ms:2ms"], {}, "--cost"),
    ("farm-cost-unknown-kind", ["farm", "--demo", "cost", "--cost", "pareto:1ms:2ms"], {},
     "--cost"),
    ("farm-cost-sigma-negative", ["farm", "--demo", "cost", "--cost", "lognormal:1ms:-1"], {},
     "--cost"),
    ("farm-cost-mode-unknown", ["farm", "--demo", "cost", "--cost-mode", "nap"], {},
     "--cost-mode"),
    ("farm-schedule-unknown", ["farm", "--demo", "queue", "--schedule", "fifo"], {},
     "--schedule"),
    ("farm-chunk-zero", ["farm", "--demo", "queue", "--chunk", "0"], {}, "--chunk"),
    ("farm-chunk-guided-zero", ["farm", "--demo", "queue", "--chunk", "guided:0"], {}, "--chunk"),
    ("farm-chunk-garbage", ["farm", "--demo", "queue", "--chunk", "big"], {}, "--chunk"),
    ("farm-in-flight-zero", ["farm", "--demo", "queue", "--in-flight", "0"], {}, "--in-flight"),
    ("farm-retries-negative", ["farm", "--demo", "queue", "--retries", "-1"], {}, "--retries"),
    ("farm-timeout-negative", ["farm", "--commands", "{d}/c.txt", "--timeout", "-1"],
     {"c.txt": CMDS}, "--timeout"),
    ("farm-kill-grace-garbage", ["farm", "--commands", "{d}/c.txt", "--kill-grace", "soon"],
     {"c.txt": CMDS}, "--kill-grace"),
    ("farm-fsync-interval-garbage", ["farm", "--demo", "queue", "--journal", "{d}/j",
                                     "--fsync-interval", "often"], {}, "--fsync-interval"),
    ("farm-tasks-per-rank-negative", ["farm", "--commands", "{d}/c.txt", "--tasks-per-rank",
                                      "-2"], {"c.txt": CMDS}, "--tasks-per-rank"),
    ("farm-commands-missing", ["farm", "--commands", "{d}/none.txt"], {}, "none.txt"),
    ("farm-commands-empty", ["farm", "--commands", "{d}/e.txt"], {"e.txt": b""}, "e.txt"),
    ("farm-commands-only-comments", ["farm", "--commands", "{d}/k.txt"],
     {"k.txt": b"# nothing\n\n   \n# here\n"}, "k.txt"),
    ("farm-commands-1mb-line", ["farm", "--commands", "{d}/long.txt"],
     {"long.txt": b"echo " + b"x" * (1 << 20) + b"\n"}, "long.txt"),
    ("farm-commands-nul-byte", ["farm", "--commands", "{d}/nul.txt"],
     {"nul.txt": b"echo a\necho \x00b\n"}, "nul.txt"),
    ("farm-commands-directory", ["farm", "--commands", "{d}/cdir"], {"cdir": "dir"}, "cdir"),
    ("farm-logdir-is-a-file", ["farm", "--commands", "{d}/c.txt", "--logdir", "{d}/c.txt"],
     {"c.txt": CMDS}, "c.txt"),
    ("farm-joblog-missing-directory", ["farm", "--commands", "{d}/c.txt", "--joblog",
                                       "{d}/no/job.log"], {"c.txt": CMDS}, "job.log"),
    ("farm-journal-exists-without-resume", ["farm", "--demo", "queue", "--tasks", "50",
                                            "--journal", "{d}/j"], {"j": journal(50)},
     "already holds results"),
    ("farm-journal-corrupt-record", ["farm", "--demo", "queue", "--tasks", "50", "--journal",
                                     "{d}/j", "--resume"], {"j": journal(50, corrupt=200)},
     "corrupt record at offset 200"),
    ("farm-journal-other-task-list", ["farm", "--demo", "queue", "--tasks", "60", "--journal",
                                      "{d}/j", "--resume"], {"j": journal(50)},
     "different task list"),
    ("farm-journal-not-a-journal", ["farm", "--demo", "queue", "--journal", "{d}/j", "--resume"],
     {"j": b"this is not a journal\n" * 10}, "not a parakit journal"),
    ("farm-journal-is-a-directory", ["farm", "--demo", "queue", "--journal", "{d}/jd"],
     {"jd": "dir"}, "jd is not a regular file"),
    ("farm-resume-without-journal", ["farm", "--demo", "queue", "--resume"], {}, "--journal"),
    # --- journal ----------------------------------------------------------------------------
    ("journal-without-file", ["journal"], {}, "file"),
    ("journal-missing-file", ["journal", "{d}/none.journal"], {}, "none.journal"),
    ("journal-empty-file", ["journal", "{d}/e"], {"e": b""}, "not a parakit journal"),
    ("journal-not-a-journal", ["journal", "{d}/t"], {"t": b"this is not a journal\n" * 10},
     "not a parakit journal"),
    ("journal-newer-format", ["journal", "{d}/n"], {"n": b"PKJRNL09" + bytes(64)},
     "newer parakit"),
    ("journal-is-a-directory", ["journal", "{d}/jd"], {"jd": "dir"}, "jd is not a regular file"),
    ("journal-corrupt-record", ["journal", "{d}/j", "--json"], {"j": journal(50, corrupt=200)},
     "corrupt record at offset 200"),
    ("journal-export-unknown-format", ["journal", "{d}/j", "--export", "xml", "{d}/out.xml"],
     {"j": journal(10)}, "--export"),
    ("journal-export-without-file", ["journal", "{d}/j", "--export", "csv"], {"j": journal(10)},
     "--export"),
    ("journal-export-missing-directory", ["journal", "{d}/j", "--export", "csv",
                                          "{d}/no/out.csv"], {"j": journal(10)}, "out.csv"),
    ("journal-export-of-a-corrupt-journal", ["journal", "{d}/j", "--export", "jsonl",
                                             "{d}/out.jsonl"], {"j": journal(50, corrupt=200)},
     "corrupt record at offset 200"),
    ("journal-export-of-a-text-file", ["journal", "{d}/t", "--export", "csv", "{d}/out.csv"],
     {"t": b"id,status\n1,ok\n"}, "not a parakit journal"),
    ("journal-failures-negative", ["journal", "{d}/j", "--failures", "-1"], {"j": journal(10)},
     "--failures"),
    # --- kde --------------------------------------------------------------------------------
    ("kde-widths-zero", ["kde", "--widths", "0"], {}, "--widths"),
    ("kde-widths-negative", ["kde", "--widths", "-0.5,1"], {}, "--widths"),
    ("kde-widths-range-two-parts", ["kde", "--widths", "1:2"], {}, "--widths"),
    ("kde-widths-range-count-zero", ["kde", "--widths", "1:2:0"], {}, "--widths"),
    ("kde-widths-not-numbers", ["kde", "--widths", "a,b"], {}, "--widths"),
    ("kde-widths-nan", ["kde", "--widths", "nan"], {}, "--widths"),
    ("kde-grid-malformed", ["kde", "--grid", "10y10"], {}, "--grid"),
    ("kde-grid-zero-cells", ["kde", "--grid", "0x10"], {}, "--grid"),
    ("kde-grid-wrong-dimensions", ["kde", "--grid", "10x10x10"], {}, "--grid"),
    ("kde-grid-too-large-for-memory", ["kde", "--grid", "1000000x1000000"], {}, "--grid"),
    ("kde-point-wrong-dimensions", ["kde", "--point", "1,2,3"], {}, "--point"),
    ("kde-point-not-numbers", ["kde", "--point", "a,b"], {}, "--point"),
    ("kde-points-missing-file", ["kde", "--points", "{d}/p.csv"], {}, "p.csv"),
    ("kde-kernel-unknown", ["kde", "--kernel", "triangle"], {}, "--kernel"),
    ("kde-algo-unknown", ["kde", "--algo", "magic"], {}, "--algo"),
    ("kde-cv-unknown", ["kde", "--cv", "maximal"], {}, "--cv"),
    ("kde-bandwidth-unknown", ["kde", "--bandwidth", "guess"], {}, "--bandwidth"),
    ("kde-samples-zero", ["kde", "--samples", "0"], {}, "--samples"),
    ("kde-samples-negative", ["kde", "--samples", "-10"], {}, "--samples"),
    ("kde-dim-zero", ["kde", "--dim", "0"], {}, "--dim"),
    ("kde-rng-unknown", ["kde", "--rng", "dice"], {}, "--rng"),
    ("kde-rtol-negative", ["kde", "--kernel", "gaussian", "--rtol", "-1e-6"], {}, "--rtol"),
    ("kde-atol-nan", ["kde", "--kernel", "gaussian", "--atol", "nan"], {}, "--atol"),
    ("kde-log-density-hypercube", ["kde", "--log-density"], {}, "--log-density"),
    ("kde-binned-one-cell", ["kde", "--kernel", "gaussian", "--approx", "binned:1"], {},
     "--approx"),
    ("kde-binned-4d", ["kde", "--kernel", "gaussian", "--dim", "4", "--approx", "binned"], {},
     "4-D"),
    ("kde-binned-unknown", ["kde", "--kernel", "gaussian", "--approx", "sketch"], {}, "--approx"),
    ("kde-weights-length", ["kde", "--input", "{d}/s.csv", "--weights", "{d}/w.csv"],
     {"s.csv": b"1,2\n3,4\n5,6\n", "w.csv": b"1\n2\n"}, "one weight per sample"),
    ("kde-weights-negative", ["kde", "--input", "{d}/s.csv", "--weights", "{d}/w.csv"],
     {"s.csv": b"1,2\n3,4\n5,6\n", "w.csv": b"1\n-2\n1\n"}, "w.csv: row 2: weight -2"),
    ("kde-weights-all-zero", ["kde", "--input", "{d}/s.csv", "--weights", "{d}/w.csv"],
     {"s.csv": b"1,2\n3,4\n5,6\n", "w.csv": b"0\n0\n0\n"}, "every weight is 0"),
    ("kde-weights-missing", ["kde", "--weights", "{d}/none.npy"], {}, "none.npy"),
    ("kde-isj-no-root", ["kde", "--input", "{d}/even.csv", "--bandwidth", "isj"],
     {"even.csv": b"".join(b"%d\n" % k for k in range(10))}, "no root"),
    ("kde-isj-2d", ["kde", "--dim", "2", "--bandwidth", "isj"], {}, "1-D"),
    ("kde-isj-equal-samples", ["kde", "--input", "{d}/same.csv", "--bandwidth", "isj"],
     {"same.csv": b"2.5\n" * 20}, "all equal"),
    ("kde-binned-grid-too-large", ["kde", "--kernel", "gaussian", "--widths", "1e-7",
                                   "--approx", "binned"], {}, "memory"),
    ("kde-csv-ragged", ["kde", "--input", "{d}/r.csv"], {"r.csv": b"1,2\n3\n4,5\n"}, "r.csv:2"),
    ("kde-csv-not-numeric", ["kde", "--input", "{d}/n.csv"], {"n.csv": b"1,2\n3,abc\n"},
     "n.csv:2"),
    ("kde-csv-nan", ["kde", "--input", "{d}/nan.csv"], {"nan.csv": b"1,2\nnan,3\n"}, "nan.csv:2"),
    ("kde-csv-inf", ["kde", "--input", "{d}/inf.csv"], {"inf.csv": b"1,2\n3,inf\n"}, "inf.csv:2"),
    ("kde-csv-empty", ["kde", "--input", "{d}/e.csv"], {"e.csv": b""}, "e.csv"),
    ("kde-csv-header-only", ["kde", "--input", "{d}/h.csv"], {"h.csv": b"x,y\n"}, "h.csv"),
    ("kde-npy-3d", ["kde", "--input", "{d}/c.npy"], {"c.npy": npy([1.0] * 8, shape=(2, 2, 2))},
     "c.npy"),
    # A malformed line far into the file: under mpirun -np 3 only the last rank's byte range
    # holds it, and that rank's message (with the global line number) ends every rank.
    ("kde-csv-bad-line-one-rank", ["kde", "--input", "{d}/m.csv"],
     {"m.csv": b"x,y\n" + b"1,2\n" * 2498 + b"1,oops\n" + b"3,4\n" * 500}, "m.csv:2500:2"),
    ("kde-npy-truncated", ["kde", "--input", "{d}/t.npy"],
     {"t.npy": npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (100, 2), }",
                         f64([1.0] * 50))}, "truncated"),
    ("kde-bin-without-cols", ["kde", "--input", "{d}/s.bin"], {"s.bin": f64([1.0] * 8)}, "--cols"),
    ("kde-bin-not-whole-rows", ["kde", "--input", "{d}/s.bin", "--cols", "3"],
     {"s.bin": f64([1.0] * 8)}, "rows of 3"),
    ("kde-cols-without-input", ["kde", "--cols", "2"], {}, "--cols"),
    ("kde-h5-no-such-dataset", ["kde", "--input", "{d}/s.h5", "--dataset", "/other"],
     {"s.h5": h5({"samples": [[1.0, 2.0], [3.0, 4.0]]})}, "no dataset /other"),
    ("kde-h5-no-such-group", ["kde", "--input", "{d}/s.h5", "--dataset", "/run/x"],
     {"s.h5": h5({"samples": [[1.0, 2.0], [3.0, 4.0]]})}, "no /run"),
    ("kde-h5-group-not-dataset", ["kde", "--input", "{d}/s.h5", "--dataset", "/g"],
     {"s.h5": h5({"g/x": [1.0, 2.0]})}, "/g is a group"),
    ("kde-h5-rank-3", ["kde", "--input", "{d}/c.h5", "--dataset", "cube"],
     {"c.h5": h5({"cube": [[[1.0, 2.0], [3.0, 4.0]]] * 2})}, "rank 3"),
    ("kde-h5-integers", ["kde", "--input", "{d}/i.h5", "--dataset", "ids"],
     {"i.h5": h5({"ids": [[1, 2], [3, 4]]})}, "integers"),
    ("kde-h5-several-datasets", ["kde", "--input", "{d}/m.h5"],
     {"m.h5": h5({"a": [1.0, 2.0], "b": [3.0, 4.0]})}, "several datasets"),
    ("kde-h5-nan", ["kde", "--input", "{d}/n.h5"],
     {"n.h5": h5({"x": [[1.0, 2.0], [float("nan"), 4.0]]})}, "row 1 column 0 is nan"),
    ("kde-h5-truncated", ["kde", "--input", "{d}/t.h5"],
     {"t.h5": h5({"x": [[1.0, 2.0]] * 1000}, truncate=3000)}, "t.h5"),
    ("kde-h5-not-hdf5", ["kde", "--input", "{d}/f.h5"], {"f.h5": b"1,2\n3,4\n"},
     "not an HDF5 file"),
    ("kde-dataset-not-hdf5", ["kde", "--input", "{d}/ok.csv", "--dataset", "x"],
     {"ok.csv": CSV_OK}, "not HDF5"),
    ("kde-out-bad-extension", ["kde", "--out", "{d}/x.txt"], {}, "--out"),
    ("kde-plot-not-png", ["kde", "--plot", "{d}/x.jpg"], {}, "--plot"),
    ("kde-out-missing-directory", ["kde", "--input", "{d}/ok.csv", "--out", "{d}/no/x.csv"],
     {"ok.csv": CSV_OK}, "x.csv"),
    # --- bench ------------------------------------------------------------------------------
    ("bench-workload-unknown", ["bench", "nonsense"], {}, "nonsense"),
    ("bench-reps-zero", ["bench", "--reps", "0"], {}, "--reps"),
    ("bench-out-bad-extension", ["bench", "--out", "{d}/b.txt"], {}, "--out"),
    ("bench-compare-missing-file", ["bench", "--compare", "{d}/a.json", "{d}/b.json"], {},
     "a.json"),
    ("bench-compare-not-json", ["bench", "--compare", "{d}/a.json", "{d}/a.json"],
     {"a.json": b"{not json"}, "a.json"),
    ("bench-kde-grid-3d", ["bench", "kde-grid", "--kde-grid", "4x4x4"], {}, "--kde-grid"),
]
