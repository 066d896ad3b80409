"""Serial versus side by side: the book's runs trained and evaluated in one process or on Dask.

    python benchmarks/parallel_runs.py [--paper] [--epochs N] [--iwae-k K] [--workers 2]
                                       [--modes serial,local,distributed]

For each mode, in a fresh private run cache and a child process of its own (same machine, same
invocation, one after the other), the same jobs: train each run, then its book metrics (active
units, KL per dimension, the IWAE bound where the book computes one):

* ``serial``: in the child process, one run after the other (what ``vae-mnist book --workers 1`` does);
* ``local``: on the embedded ``LocalCluster`` of ``--workers`` single-threaded processes
  (``vae-mnist book --workers N``);
* ``distributed``: a ``dask scheduler`` and ``--workers`` ``dask worker`` processes started here on
  127.0.0.1, the child submitting to the scheduler's address (the many-machines path: runs come back
  as archives and are installed into the client's cache).

Prints, per mode: wall time of the jobs (cluster start included), the ratio to serial, the peak
memory (resident set size summed over the child, its workers and, for ``distributed``, the scheduler
and worker processes; and the largest single process), and the machine's load average before and
during the mode (other users of the machine slow every mode). ``--paper``: the paper's three runs
(z = 2, 10, 20; the bound with ``--iwae-k``, default 1000, so that "training plus bounds" has a
bound); default: every run of the book (``vae_mnist.profiles.book_runs``) with the book's bounds.
``--epochs`` shortens every run (the full profile's 50 epochs otherwise).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _jobs(args):
    from vae_mnist.jobs.jobs import Job, book_jobs
    from vae_mnist.profiles import book_runs, headline_configs, iwae_k

    if args.paper:
        k = args.iwae_k if args.iwae_k is not None else iwae_k("full")
        jobs = [Job(c, k or None) for c in headline_configs("full", 1)]
    else:
        jobs = book_jobs(book_runs("full", 1), "full", 1)
        if args.iwae_k is not None:
            jobs = [Job(j.config, (args.iwae_k or None) if j.iwae_k else None) for j in jobs]
    if args.epochs:
        jobs = [Job(j.config.replace(epochs=args.epochs), j.iwae_k) for j in jobs]
    if args.train_subset:
        jobs = [Job(j.config.replace(train_subset=args.train_subset), j.iwae_k) for j in jobs]
    return jobs


def child(args) -> None:
    """Run the jobs in this process in one mode; print one JSON line with the wall time."""
    from vae_mnist.jobs.runner import failed, run_jobs

    jobs = _jobs(args)
    say = lambda s: print(f"  [{args.child}] {s}", file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    # serial: the one job loop in this process (workers=1); local/distributed: the same loop on Dask
    workers = 1 if args.child == "serial" else args.workers
    outcomes = run_jobs(jobs, workers, None if args.child == "serial" else args.scheduler, progress=say)
    n_failed = len(failed(outcomes))
    print(json.dumps({"seconds": time.perf_counter() - t0, "runs": len(jobs), "failed": n_failed}), flush=True)


class Sampler(threading.Thread):
    """Peak resident memory of some process trees, and the load average, sampled every 0.5 s."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = list(pids)
        self.peak_total = 0
        self.peak_single = 0
        self.loads = []
        self.stop = threading.Event()

    def run(self):
        import psutil

        while not self.stop.is_set():
            total, single = 0, 0
            for pid in self.pids:
                try:
                    root = psutil.Process(pid)
                    procs = [root] + root.children(recursive=True)
                except psutil.Error:
                    continue
                for p in procs:
                    try:
                        rss = p.memory_info().rss
                    except psutil.Error:
                        continue
                    total += rss
                    single = max(single, rss)
            self.peak_total = max(self.peak_total, total)
            self.peak_single = max(self.peak_single, single)
            self.loads.append(os.getloadavg()[0])
            self.stop.wait(0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.is_file() else name


def run_mode(mode: str, args, base: Path) -> dict:
    env = dict(os.environ)
    cache = base / f"cache-{mode}"
    env["VAE_MNIST_CACHE_DIR"] = str(cache)
    extra = []
    cluster = []
    if mode == "distributed":
        port = _free_port()
        address = f"tcp://127.0.0.1:{port}"
        logs = open(base / "dask.log", "ab")
        cluster.append(subprocess.Popen([_bin("dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                         "--no-dashboard"], stdout=logs, stderr=logs, env=env))
        worker_env = dict(env)
        share = str(max(1, (os.cpu_count() or 1) // args.workers))
        worker_env.update(TF_NUM_INTRAOP_THREADS=share, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=share,
                          TF_CPP_MIN_LOG_LEVEL="2", VAE_MNIST_CACHE_DIR=str(base / "worker-unused-cache"))
        for _ in range(args.workers):
            cluster.append(subprocess.Popen([_bin("dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                             "--no-dashboard", "--local-directory", str(base / "dask-worker")],
                                            stdout=logs, stderr=logs, env=worker_env))
        extra = ["--scheduler", address]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode] + _child_args(args) + extra
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    sampler = Sampler([proc.pid] + [p.pid for p in cluster])
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    for p in reversed(cluster):
        p.terminate()
    for p in cluster:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    if proc.returncode != 0:
        raise SystemExit(f"parallel_runs: the {mode} run failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    loads = sampler.loads or [float("nan")]
    return {"mode": mode, "seconds": result["seconds"], "process_seconds": wall, "runs": result["runs"],
            "failed": result["failed"], "peak_rss_total_mb": sampler.peak_total / 2**20,
            "peak_rss_single_mb": sampler.peak_single / 2**20, "load_before": load_before[0],
            "load_mean": sum(loads) / len(loads), "load_max": max(loads)}


def _child_args(args) -> list:
    out = ["--workers", str(args.workers)]
    if args.paper:
        out.append("--paper")
    if args.epochs:
        out += ["--epochs", str(args.epochs)]
    if args.iwae_k is not None:
        out += ["--iwae-k", str(args.iwae_k)]
    if args.train_subset:
        out += ["--train-subset", str(args.train_subset)]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paper", action="store_true", help="the paper's three runs (default: every run of the book)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the full profile's 50)")
    p.add_argument("--iwae-k", type=int, default=None, help="k of the IWAE bound (default: the book's; 0: none)")
    p.add_argument("--train-subset", type=int, default=None, help="train on the first N images only")
    from vae_mnist.jobs.parallel import DEFAULT_WORKERS

    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"worker processes (default: vae-mnist book's, {DEFAULT_WORKERS})")
    p.add_argument("--modes", default="serial,local,distributed", help="which of serial,local,distributed")
    p.add_argument("--keep", action="store_true", help="keep the private caches (printed)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--scheduler", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    jobs = _jobs(args)
    print(f"{len(jobs)} runs: " + ", ".join(j.config.name().rsplit('-', 1)[0] + (f" (IWAE k={j.iwae_k})" if j.iwae_k else "")
                                          for j in jobs))
    print(f"cores: {os.cpu_count()}; load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = Path(tempfile.mkdtemp(prefix="vae-mnist-parallel-bench-"))
    results = []
    try:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            print(f"-- {mode} ...", flush=True)
            r = run_mode(mode, args, base)
            results.append(r)
            print(f"   {mode}: {r['seconds']:.1f} s for {r['runs']} runs ({r['failed']} failed), "
                  f"peak memory {r['peak_rss_total_mb']:.0f} MB total / {r['peak_rss_single_mb']:.0f} MB largest process, "
                  f"load {r['load_before']:.2f} before, {r['load_mean']:.2f} mean", flush=True)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"caches kept in {base}")
    serial = next((r for r in results if r["mode"] == "serial"), None)
    print()
    print(f"{'mode':<12} {'wall s':>8} {'vs serial':>10} {'peak MB (sum)':>14} {'largest MB':>11} {'load mean':>10}")
    for r in results:
        ratio = f"{r['seconds'] / serial['seconds']:.2f}" if serial else "—"
        print(f"{r['mode']:<12} {r['seconds']:>8.1f} {ratio:>10} {r['peak_rss_total_mb']:>14.0f} "
              f"{r['peak_rss_single_mb']:>11.0f} {r['load_mean']:>10.2f}")
    if serial:
        for r in results:
            if r is not serial:
                change = 100 * (r["seconds"] / serial["seconds"] - 1)
                print(f"{r['mode']}: {abs(change):.0f} % {'more' if change > 0 else 'less'} wall time than serial")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
