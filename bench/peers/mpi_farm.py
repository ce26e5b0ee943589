#!/usr/bin/env python3
"""mpi4py.futures peer of parakit's queue farm: tasks 0..N-1, each returns its id, result = sum.

Run under MPI with one master and P workers, the layout of `mpirun -np P+1 parakit farm`:

  mpirun -np P+1 --oversubscribe python3 bench/peers/mpi_farm.py --tasks N [--chunksize C] [--reps R]

It uses MPICommExecutor (every rank runs this script; rank 0 is the master, the others are the
pool) rather than `python3 -m mpi4py.futures` with MPIPoolExecutor: the two share the same
pool/worker machinery, and this form needs no dynamic process management, so it works as root
and with --oversubscribe. The pool is warmed up before the clock starts (the workers are already
running, as parakit's are when its farm's clock starts), and each timed run is
`sum(executor.map(task, range(N), chunksize=C))`. Rank 0 prints one JSON object:
  {"seconds": median, "samples_s": [...], "result": sum, "tasks": N, "workers": P, "chunksize": C}
"""

import argparse
import json
import sys
import time


def task(i):
    # parakit's queue demo: the task's value is its id, and the master sums the results.
    return i


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--chunksize", type=int, default=0, help="0: N // (16 * workers)")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor

    comm = MPI.COMM_WORLD
    workers = comm.Get_size() - 1
    with MPICommExecutor(comm, root=0) as executor:
        if executor is None:  # a worker rank: it served the pool until the master shut it down
            return
        if workers < 1:
            print(json.dumps({"error": "need at least 2 ranks (1 master + workers)"}))
            sys.exit(2)
        chunksize = args.chunksize or max(1, args.tasks // (16 * workers))
        # Warm-up: every worker has answered at least once before timing.
        list(executor.map(task, range(4 * workers)))
        samples = []
        result = None
        for _ in range(max(1, args.reps)):
            start = time.perf_counter()
            result = sum(executor.map(task, range(args.tasks), chunksize=chunksize))
            samples.append(time.perf_counter() - start)
        ordered = sorted(samples)
        print(
            json.dumps(
                {
                    "seconds": ordered[len(ordered) // 2],
                    "samples_s": samples,
                    "result": result,
                    "tasks": args.tasks,
                    "workers": workers,
                    "chunksize": chunksize,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
