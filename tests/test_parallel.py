"""Runs on a real Dask cluster: an embedded LocalCluster, and a scheduler and worker started as processes.

Tiny configurations (500 training images, 1 epoch). What a user relies on: a run trained on a worker
has exactly the weights of the same run trained serially; results land in the client's own cache
(workers share no folder with it); a worker killed mid-task leaves no damaged run (the task is run
again, or reported in one line while the others finish); a configuration another process is
working on is never trained twice into one cache; bad addresses and grids get one line and exit 2.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed  # noqa: F401  (its config defaults must exist before dask.config.set below)
import numpy as np
import pytest

from vae_mnist.cli.main import main
from vae_mnist.config import RunConfig
from vae_mnist.jobs.jobs import Job
from vae_mnist.jobs.parallel import open_client
from vae_mnist.jobs.runner import run_jobs
from vae_mnist.store.runs import Run, get_run, install_run, run_lock, run_path
from vae_mnist.store.run_checks import check_run

from helpers import DATA_DIR, vae_mnist_command

pytestmark = pytest.mark.slow  # (make test-quick leaves this module out)

TINY = dict(epochs=1, train_subset=500, test_subset=100)
A = RunConfig(latent_dim=2, seed=0, **TINY)
B = RunConfig(latent_dim=3, seed=1, **TINY)
C = RunConfig(latent_dim=4, seed=2, **TINY)


@pytest.fixture(autouse=True)
def _data(monkeypatch):
    monkeypatch.setenv("VAE_MNIST_DATA_DIR", str(DATA_DIR))


@pytest.fixture(scope="module")
def serial_runs(tmp_path_factory):
    """A and B trained serially, in this process (the reference weights)."""
    root = tmp_path_factory.mktemp("serial")
    return {c: get_run(c, data_dir=str(DATA_DIR), root=root, progress=None) for c in (A, B)}


@pytest.fixture(scope="module")
def client():
    """An embedded LocalCluster of two single-threaded worker processes (as `book --workers 2`)."""
    os.environ["VAE_MNIST_DATA_DIR"] = str(DATA_DIR)  # the workers inherit it
    with open_client(workers=2, progress=None) as c:
        yield c


def same_weights(run_a, run_b) -> bool:
    wa, wb = run_a.model.get_weights(), run_b.model.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))


def cache_problems(root: Path) -> list:
    """Anything in the cache but finished runs and lock files (temporaries, damaged or half-written runs)."""
    bad = []
    for p in sorted(root.iterdir()):
        if p.is_file() and p.name.startswith(".") and p.name.endswith(".lock"):
            continue
        if p.is_dir() and check_run(p, full=True) is None:
            continue
        bad.append(p.name)
    return bad


def test_two_workers_train_two_runs_with_the_serial_weights(client, serial_runs, tmp_path):
    threads = client.run(lambda: os.environ.get("TF_NUM_INTRAOP_THREADS"))
    assert len(threads) == 2
    assert set(threads.values()) == {str(max(1, (os.cpu_count() or 1) // 2))}  # each worker its share of the cores
    lines = []
    outcomes = run_jobs([Job(A, 20), Job(B)], client=client, root=tmp_path, progress=lines.append)
    assert [o.status for o in outcomes] == ["trained", "trained"], lines
    for o in outcomes:
        run = Run(run_path(o.job.config, tmp_path))
        assert same_weights(run, serial_runs[o.job.config]), f"{o.job.config.name()}: weights differ from serial"
        assert run.metrics["test_neg_elbo"] == serial_runs[o.job.config].metrics["test_neg_elbo"]
        assert "active_units" in run.metrics and len(run.metrics["kl_per_dimension"]) == o.job.config.latent_dim
    assert Run(run_path(A, tmp_path)).metrics["iwae_k"] == 20
    # the bound's per-image values come back with the run (the chapters' paired comparisons read them)
    kept = np.load(run_path(A, tmp_path) / "iwae_per_image_k20.npy")
    assert kept.shape == (100,) and abs(kept.mean() - Run(run_path(A, tmp_path)).metrics["iwae_nll"]) < 1e-9
    assert "iwae_k" not in Run(run_path(B, tmp_path)).metrics
    assert any(line.startswith("[2/2]") for line in lines)
    assert cache_problems(tmp_path) == []
    # Asked again: everything is in the cache, nothing is submitted.
    again = run_jobs([Job(A, 20), Job(B)], client=client, root=tmp_path, progress=None)
    assert [o.status for o in again] == ["cached", "cached"]
    # A larger k than the cached one: only the bound is computed (on a worker), the weights stay.
    lines = []
    more = run_jobs([Job(A, 30)], client=client, root=tmp_path, progress=lines.append)
    assert more[0].status == "evaluated"
    # a lone task gets every core, not its worker's share
    assert any(f"({os.cpu_count()} TensorFlow thread(s))" in line for line in lines if line.startswith("[1/1]")), lines
    run = Run(run_path(A, tmp_path))
    assert run.metrics["iwae_k"] == 30 and same_weights(run, serial_runs[A])
    # the workers only start the runs' processes: TensorFlow was never loaded in them
    assert set(client.run(lambda: "tensorflow" in sys.modules).values()) == {False}


def test_a_long_bound_is_computed_in_slices_and_is_the_one_pass_bound(client, serial_runs, tmp_path, monkeypatch):
    """k >= SLICE_MIN_K on a cluster: the run first, then its bound as tasks over slices of the test set
    (vae_mnist.jobs.bound_tasks); the client's bound and per-image values equal one pass in this process, exactly."""
    from vae_mnist.jobs import bound_tasks
    from vae_mnist.jobs.bound_tasks import SLICE_MIN_K
    from vae_mnist.core.data import run_data
    from vae_mnist.core.iwae import iwae_bound
    from vae_mnist.core.per_image import PER_IMAGE_FILE

    # one slice per worker here (the book cuts two: the same code, two task processes fewer in the suite)
    monkeypatch.setattr(bound_tasks, "SLICES_PER_WORKER", 1)
    k = max(SLICE_MIN_K, 1000)  # 8 images per batch: the 100 test images make 13 batches, in 2 slices of 6 and 7 batches
    lines = []
    outcomes = run_jobs([Job(B, k)], client=client, root=tmp_path, progress=lines.append)
    assert [o.status for o in outcomes] == ["trained"], lines
    assert any(f"IWAE k={k} in 2 slices" in line for line in lines), lines
    run = Run(run_path(B, tmp_path))
    assert same_weights(run, serial_runs[B])
    x = run_data(B, str(DATA_DIR)).x_test
    one_pass = iwae_bound(serial_runs[B].model, x, k=k, seed=B.seed, per_image=True)
    assert run.metrics["iwae_k"] == k and run.metrics["iwae_nll"] == one_pass["nll"]
    assert run.metrics["iwae_stderr"] == one_pass["stderr"] and "active_units" in run.metrics
    assert np.array_equal(np.load(run.path / PER_IMAGE_FILE.format(k=k)), one_pass["per_image"])
    assert cache_problems(tmp_path) == []


def test_a_run_another_process_is_training_is_not_trained_again(client, serial_runs, tmp_path):
    # Another "process" (a thread with its own lock handle) holds A's lock, and installs A while
    # run_jobs trains B; run_jobs must wait for it and take its run, never train A itself.
    locked, go = threading.Event(), threading.Event()

    def other():
        with run_lock(A, tmp_path):
            locked.set()
            go.wait(300)
            install_run(serial_runs[A].path, A, root=tmp_path)

    t = threading.Thread(target=other)
    t.start()
    assert locked.wait(30)
    lines = []

    def progress(line):
        lines.append(line)
        if line.startswith("[1/2]"):
            go.set()

    try:
        outcomes = run_jobs([Job(A), Job(B)], client=client, root=tmp_path, progress=progress)
    finally:
        go.set()
        t.join(60)
    status = {o.job.config: o.status for o in outcomes}
    # A: the other process's run is kept (only the book metrics it lacked are added), not retrained.
    assert status == {A: "evaluated", B: "trained"}, lines
    assert same_weights(Run(run_path(A, tmp_path)), serial_runs[A])
    assert any("waiting for another process" in line for line in lines)
    assert cache_problems(tmp_path) == []


def _training_under_way(worker_pid: int) -> bool:
    """Whether the task process of this worker has started training: its run's temporary folder exists."""
    import psutil

    try:
        children = psutil.Process(worker_pid).children(recursive=True)
    except psutil.Error:
        return False
    for child in children:
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if "vae_mnist.jobs.parallel" in cmd and list(Path(cmd[-1], "runs").glob(".tmp-*")):
            return True
    return False


def _kill_when_running(client, pids, killed, deadline=240.0):
    """Kill (SIGKILL) a worker process as soon as its task is training (event-driven: no fixed wait)."""
    t_end = time.monotonic() + deadline
    while time.monotonic() < t_end:
        for worker, pid in pids.items():
            if _training_under_way(pid):
                os.kill(pid, signal.SIGKILL)
                killed.append(worker)
                return
        time.sleep(0.05)


@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["retried", "reported"])
def test_a_worker_killed_mid_task_leaves_no_damaged_run(allowed_failures, serial_runs, tmp_path):
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        with open_client(workers=2, progress=None) as c:
            pids = c.run(os.getpid)
            killed = []
            killer = threading.Thread(target=_kill_when_running, args=(c, pids, killed))
            killer.start()
            lines = []
            outcomes = run_jobs([Job(A), Job(B)], client=c, root=tmp_path, progress=lines.append, retries=0)
            killer.join()
    assert killed, "no worker was killed mid-task"
    status = [o.status for o in outcomes]
    if allowed_failures:
        # Dask ran the killed task again on a live worker: both runs are there, with the serial weights.
        assert status == ["trained", "trained"], lines
    else:
        # Not allowed to retry: the killed task is reported in one line, the other one finishes.
        assert sorted(status) == ["failed", "trained"], lines
        bad = next(o for o in outcomes if o.status == "failed")
        assert "KilledWorker" in bad.error and "\n" not in bad.error
        assert any("FAILED" in line for line in lines)
        assert not run_path(bad.job.config, tmp_path).exists()
    for o in outcomes:
        if o.status == "trained":
            assert same_weights(Run(run_path(o.job.config, tmp_path)), serial_runs[o.job.config])
    assert cache_problems(tmp_path) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args) -> list:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe) if exe.is_file() else "dask", *args]


def test_sweep_on_a_scheduler_and_worker_started_as_processes(serial_runs, tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, VAE_MNIST_DATA_DIR=str(DATA_DIR), TF_CPP_MIN_LOG_LEVEL="2")
    # The worker has its own temporary folder and cache: it shares no folder with the client.
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    worker_env = dict(env, TMPDIR=str(worker_tmp), VAE_MNIST_CACHE_DIR=str(tmp_path / "worker-cache"),
                      TF_NUM_INTRAOP_THREADS="1")  # as README's worker command
    log = open(tmp_path / "dask.log", "wb")
    procs = [subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"),
                              stdout=log, stderr=log, env=env)]
    try:
        procs.append(subprocess.Popen(_dask("worker", address, "--nthreads", "1", "--no-dashboard",
                                            "--local-directory", str(worker_tmp)),
                                      stdout=log, stderr=log, env=worker_env))
        cache = tmp_path / "client-cache"
        cmd = vae_mnist_command() + ["sweep", "--latent-dims", "2", "--seeds", "0", "--epochs", "1",
                                     "--train-subset", "500", "--test-subset", "100", "--iwae-k", "10", "--json"]
        client_env = dict(env, VAE_MNIST_CACHE_DIR=str(cache), VAE_MNIST_CONNECT_TIMEOUT="60")
        out = subprocess.run(cmd + ["--scheduler", address], env=client_env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        rows = json.loads(out.stdout.strip().splitlines()[-1])
        assert [(r["latent_dim"], r["seed"], r["status"]) for r in rows] == [(2, 0, "trained")]
        assert rows[0]["iwae_k"] == 10 and rows[0]["active_units"] is not None
        assert f"Dask scheduler {address}" in out.stderr and "[1/1]" in out.stderr
        run = Run(run_path(A, cache))
        assert check_run(run.path, full=True) is None
        assert same_weights(run, serial_runs[A])
        assert not (tmp_path / "worker-cache").exists()   # the worker wrote nothing into any cache
        # The same sweep through $DASK_SCHEDULER_ADDRESS: all cached, a table, nothing trained.
        again = subprocess.run(vae_mnist_command() + ["sweep", "--latent-dims", "2", "--epochs", "1",
                                                      "--train-subset", "500", "--test-subset", "100",
                                                      "--iwae-k", "10"],
                               env=dict(client_env, DASK_SCHEDULER_ADDRESS=address), capture_output=True,
                               text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "cached" in again.stdout and "-ELBO" in again.stdout
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path):
    port = _free_port()  # nothing listens there
    env = dict(os.environ, VAE_MNIST_DATA_DIR=str(DATA_DIR), VAE_MNIST_CACHE_DIR=str(tmp_path / "cache"),
               VAE_MNIST_CONNECT_TIMEOUT="2")
    out = subprocess.run(vae_mnist_command() + ["sweep", "--latent-dims", "2", "--epochs", "1", "--train-subset",
                                                "500", "--test-subset", "100", "--scheduler",
                                                f"tcp://127.0.0.1:{port}"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("vae-mnist: error:")]
    assert len(errors) == 1 and f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in errors[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--latent-dims", "2", "--scheduler", "no-port-here"], "is not a scheduler address"),
    (["book", "--scheduler", "tcp://host"], "is not a scheduler address"),
    (["sweep", "--latent-dims", "2,x"], "--latent-dims: 'x' is not an integer"),
    (["sweep", "--latent-dims", "5-2"], "runs backwards"),
    (["sweep", "--latent-dims", "0"], "--latent-dims: 0 is out of range"),
    (["sweep", "--latent-dims", "2", "--seeds", "0-x"], "--seeds:"),
    (["sweep", "--latent-dims", "2", "--likelihood", "bernoulli,poisson"], "'poisson' is not one of"),
    (["sweep", "--latent-dims", "2", "--workers", "0"], "--workers"),
    (["sweep", "--latent-dims", "2", "--workers", "2", "--scheduler", "tcp://h:1"], "not allowed with"),
])
def test_bad_grids_and_addresses_are_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MNIST_CACHE_DIR", str(tmp_path))
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors (the parser prints one line, status 2)
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("vae-mnist") and "error:" in err[0] and message in err[0], err
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


def test_the_default_is_one_worker_per_two_cores():
    """README: serial on a two-core machine (the measured faster there), a cluster where cores allow."""
    from vae_mnist.jobs.parallel import DEFAULT_WORKERS, default_workers

    assert [default_workers(c) for c in (1, 2, 3, 4, 8)] == [1, 1, 1, 2, 4]
    assert DEFAULT_WORKERS == default_workers(os.cpu_count())


def test_a_task_gets_the_cores_no_other_task_uses():
    from vae_mnist.jobs.parallel import threads_for

    assert [threads_for(2, n) for n in (1, 2, 3)] == [2, 1, 1]
    assert [threads_for(8, n) for n in (1, 2, 3, 8, 9)] == [8, 4, 2, 1, 1]


def test_sweep_grid_parsing():
    from vae_mnist.jobs.sweep import grid, parse_choice_list, parse_int_list

    assert parse_int_list("2,5,10") == [2, 5, 10]
    assert parse_int_list("0-2") == [0, 1, 2]
    assert parse_int_list("0-2,5,1") == [0, 1, 2, 5]
    assert parse_choice_list("gaussian,bernoulli,gaussian", ("bernoulli", "gaussian")) == ["gaussian", "bernoulli"]
    configs = grid([2, 5], [0, 1], likelihoods=["bernoulli", "gaussian"], epochs=3)
    assert len(configs) == 8 and len(set(configs)) == 8
    assert {(c.latent_dim, c.seed, c.likelihood) for c in configs} == {
        (z, s, lik) for z in (2, 5) for s in (0, 1) for lik in ("bernoulli", "gaussian")}
    assert all(c.epochs == 3 for c in configs)
