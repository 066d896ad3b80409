"""Runs side by side on a Dask cluster: one machine (an embedded ``LocalCluster``) or many.

The Dask executor of the one job loop (:func:`vae_mnist.jobs.runner.run_jobs`): a *job* (:class:`vae_mnist.jobs.jobs.Job`) is
one run and the metrics it needs; on a worker it is done exactly as in a serial build
(:func:`vae_mnist.jobs.jobs.do_job`: train if missing, then the missing metrics).

* **Where the work happens.** :func:`execute_job` runs on a Dask worker. It starts a fresh Python process for
  the run (TensorFlow in its main thread, as in a serial run: same weights, no state carried between runs),
  which trains into a private scratch folder of the worker (never into the client's cache) and computes the
  metrics; the task returns the finished run folder as a small gzip'd tar archive
  (:func:`vae_mnist.store.runs.pack_run`, a few MB). Workers therefore need no file system in common with the
  client: the client unpacks the archive and installs it into its own cache atomically
  (:func:`vae_mnist.store.runs.install_run_archive`). The local cluster takes the same route: one code path, the
  client the only writer of its cache; packing a few MB costs nothing next to minutes of training.
* **Never two trainings of one configuration into one cache.** The client holds the run's lock
  (:func:`vae_mnist.store.runs.run_lock`) from before it submits the job until the run is installed, so a second
  ``vae-mnist`` process asking for the same configuration waits and then loads it. A job whose lock another
  process holds is set aside and looked at again when that lock is free.
* **Threads.** Each worker of the local cluster is a process (without TensorFlow) with one Dask thread and
  TensorFlow's intra-op (and OpenMP) threads set to its share of the cores (``TF_NUM_INTRAOP_THREADS`` in
  the worker's environment, read by TensorFlow when the run's process starts). A task's run gets the cores
  no other task is using (:func:`task_threads`): the last job, running alone, gets them all. Remote workers use what their own
  environment says (see the README, "More than one machine").
* **Failures.** A worker that dies mid-task takes its run's process with it (``PR_SET_PDEATHSIG``) and leaves
  only its scratch folder (removed by the next task on that machine); the scheduler runs the task again on
  another worker. A task that fails for good (an exception, or workers dying
  ``distributed.scheduler.allowed-failures`` times) is reported in one line and the other jobs finish;
  :class:`Outcome` says which. A seeded run has the same weights on a worker as in a serial run (tested).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

from ..config import RunConfig
from ..errors import VaeMnistError
from ..progress import reporter
from .. import settings

ENV_SCHEDULER = settings.SCHEDULER

#: Cores one job uses well (an epoch on two threads takes about half the time it takes on one: on two
#: cores the book's jobs took 11 % longer on two workers than in one process; README, "Runs in parallel").
CORES_PER_JOB = 2


def default_workers(cores: Optional[int] = None) -> int:
    """Workers of ``vae-mnist book`` and ``sweep`` by default: one per :data:`CORES_PER_JOB` cores (at least 1: serial)."""
    return max(1, (cores or os.cpu_count() or 1) // CORES_PER_JOB)


DEFAULT_WORKERS = default_workers()

#: Seconds to wait for a remote scheduler before giving up with one line (``$VAE_MNIST_CONNECT_TIMEOUT``).
CONNECT_TIMEOUT = 10.0
ENV_CONNECT_TIMEOUT = settings.CONNECT_TIMEOUT

_SCRATCH = "vae-mnist-tasks"


# --------------------------------------------------------------------------------------
# The worker side
# --------------------------------------------------------------------------------------
def _scratch_root() -> Path:
    base = Path(tempfile.gettempdir()) / _SCRATCH
    base.mkdir(parents=True, exist_ok=True)
    return base


def execute_job(config: dict, iwae_k: Optional[int] = None, data_dir=None, archive: Optional[bytes] = None,
                part: Optional[tuple] = None) -> dict:
    """Run on a worker: train ``config`` (or unpack ``archive``, a run to evaluate), add the metrics.

    The work happens in a fresh Python process of its own (``python -m vae_mnist.jobs.parallel``), with
    TensorFlow in its main thread, exactly as in a serial ``vae-mnist`` process: the same seeded run
    gives the same weights, and no TensorFlow state is carried from one run to the next. (Run in the
    worker's task thread, training was neither reproducible nor fast: tested.) The child dies with
    the worker. Returns ``{"name", "archive", "seconds", "worker", "trained"}``, ``archive`` being the
    finished run folder (:func:`~vae_mnist.store.runs.pack_run`). Scratch space is a folder of the worker's
    temporary directory; folders left there by killed workers are removed first. ``part=(i, parts)``: slice
    ``i`` of the bound at ``iwae_k`` instead (:mod:`vae_mnist.jobs.bound_tasks`; the result holds ``"values"``).
    """
    import json
    import shutil
    import subprocess
    import sys

    from ..store.temporaries import new_temporary_folder, remove_leftovers

    t0 = time.perf_counter()
    name = RunConfig.from_dict(config).name()
    base = _scratch_root()
    remove_leftovers(base, ".tmp-*")
    scratch = new_temporary_folder(base, "task")
    try:
        (scratch / "job.json").write_text(json.dumps({"config": config, "iwae_k": iwae_k, "data_dir": data_dir,
                                                      "part": list(part) if part else None}))
        if archive is not None:
            (scratch / "in.tar.gz").write_bytes(archive)
        log = scratch / "log.txt"
        env = dict(os.environ)
        threads = task_threads()
        if threads is not None:  # read by TensorFlow when the run's process starts
            env.update(TF_NUM_INTRAOP_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        with open(log, "wb") as fh:
            code = subprocess.call([sys.executable, "-m", "vae_mnist.jobs.parallel", str(scratch)], stdout=fh, env=env,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        if code != 0:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            last = lines[-1].strip() if lines else "no output"
            raise RuntimeError(f"{name}: the training process exited with status {code}: {last[:300]}")
        packed = (scratch / "out.bin").read_bytes()
        result = {"name": name, "seconds": time.perf_counter() - t0, "worker": f"{socket.gethostname()}:{os.getpid()}",
                  "trained": archive is None, "threads": threads}
        if part:
            result.update(json.loads((scratch / "images.json").read_text()), values=packed)
        else:
            result["archive"] = packed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _die_with_parent() -> None:  # pragma: no cover (runs in the child between fork and exec)
    """Linux: the child gets SIGKILL when the worker process that started it dies."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _task_main(scratch: Path) -> None:
    """The child process of :func:`execute_job`: ``scratch/job.json`` in, ``scratch/out.bin`` out."""
    import json

    from .jobs import Job, do_job
    from ..store.runs import install_run_archive, pack_run

    spec = json.loads((scratch / "job.json").read_text())
    config = RunConfig.from_dict(spec["config"])
    root = scratch / "runs"
    run = None
    if (scratch / "in.tar.gz").is_file():
        run = install_run_archive((scratch / "in.tar.gz").read_bytes(), config, root=root)
    if spec.get("part"):
        from .bound_tasks import compute_slice

        images, out = compute_slice(run, int(spec["iwae_k"]), tuple(spec["part"]), spec.get("data_dir"))
        (scratch / "images.json").write_text(json.dumps({"images": images}))
    else:
        out = pack_run(do_job(Job(config, spec.get("iwae_k")), root, spec.get("data_dir")).path)
    tmp = scratch / "out.bin.part"
    tmp.write_bytes(out)
    os.replace(tmp, scratch / "out.bin")


# --------------------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------------------
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})/?$")


def scheduler_address(scheduler: Optional[str] = None) -> Optional[str]:
    """``scheduler``, else ``$DASK_SCHEDULER_ADDRESS``, else ``None`` (an embedded local cluster)."""
    address = scheduler if scheduler else settings.text(ENV_SCHEDULER)
    if address is None:
        return None
    given = address
    if "://" not in address:
        address = "tcp://" + address
    if not _ADDRESS.match(address):
        source = "--scheduler" if scheduler else ENV_SCHEDULER
        raise VaeMnistError(f"{source}: {given!r} is not a scheduler address like tcp://HOST:PORT")
    return address


#: Set in the local cluster's workers: a task's run gets the cores no other task of the cluster is using.
ENV_SHARE_CORES = settings.SHARE_CORES


def local_cluster_env(workers: int, cores: Optional[int] = None) -> dict:
    """The environment of each local worker: TensorFlow's and OpenMP's threads set to its share of the cores
    (a task may take more when fewer tasks run: :func:`task_threads`)."""
    cores = cores or os.cpu_count() or 1
    share = str(max(1, cores // max(1, workers)))
    return {"TF_NUM_INTRAOP_THREADS": share, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": share,
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), ENV_SHARE_CORES: str(cores)}


def threads_for(cores: int, running: int) -> int:
    """The threads of one of ``running`` tasks on ``cores`` cores: an even share, all of them for a lone task."""
    return max(1, cores // max(1, running))


def task_threads() -> Optional[int]:
    """On a worker of the local cluster, the threads this task's run may use: the cores divided among
    the tasks running now (a lone last job gets them all). ``None`` elsewhere (remote workers keep
    what their environment says) or when the scheduler cannot be asked."""
    cores = settings.text(ENV_SHARE_CORES)
    if not cores:
        return None
    try:
        from distributed import get_client

        processing = get_client().processing()
    except Exception:  # not in a task, or the scheduler cannot be asked
        return None
    running = sum(1 for keys in (processing or {}).values() if keys)
    return threads_for(int(cores), running)


def _dashboard_address():
    # The scheduler's HTTP server (the dashboard when bokeh is installed, health and metrics pages
    # always) on a free port: Dask's default, 8787, may be taken by another cluster and it would warn.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def connect_timeout() -> float:
    """``$VAE_MNIST_CONNECT_TIMEOUT`` (seconds), else :data:`CONNECT_TIMEOUT`."""
    return settings.positive_float(ENV_CONNECT_TIMEOUT, CONNECT_TIMEOUT)


@contextlib.contextmanager
def open_client(workers: int = DEFAULT_WORKERS, scheduler: Optional[str] = None, progress=print,
                timeout: Optional[float] = None) -> Iterator[object]:
    """A Dask ``Client``: of the scheduler at ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), else of
    an embedded ``LocalCluster`` of ``workers`` single-threaded processes, stopped on exit."""
    say = reporter(progress)
    address = scheduler_address(scheduler)
    from distributed import Client, LocalCluster

    if address is not None:
        try:
            client = Client(address, timeout=timeout or connect_timeout())
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if len(reason) > 160:
                reason = reason[:157] + "..."
            raise VaeMnistError(f"cannot reach the Dask scheduler at {address} ({reason})") from None
        try:
            n = len(client.scheduler_info().get("workers", {}))
            wait = "" if n else " (the runs wait until a worker connects: `dask worker " + address + "`)"
            say(f"Dask scheduler {address}: {n} worker(s){wait}{_link(client)}")
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=_dashboard_address(), worker_dashboard_address=None,
                           silence_logs=logging.ERROR,
                           env=local_cluster_env(workers))
    try:
        client = Client(cluster)
        try:
            share = local_cluster_env(workers)["TF_NUM_INTRAOP_THREADS"]
            say(f"Dask local cluster: {workers} worker process(es), 1 task and {share} TensorFlow thread(s) "
                f"each{_link(client)}")
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _link(client) -> str:
    """``"; dashboard <address>"`` when the scheduler serves Dask's dashboard, else nothing."""
    try:
        if client.cluster is not None:  # an embedded cluster: its dashboard needs bokeh here
            import bokeh  # noqa: F401
        info = client.scheduler_info()
        if "dashboard" not in info.get("services", {}):
            return ""
        return f"; dashboard {client.dashboard_link}"
    except Exception:  # no dashboard: nothing to show
        return ""


# --------------------------------------------------------------------------------------
# The client side
# --------------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def run_on_cluster(client, jobs, root, data_dir, retries, tally) -> Iterator:
    """The Dask executor: submit ``jobs`` (whose locks the caller holds), install each finished run into
    ``root`` as it comes back; yields one :class:`~vae_mnist.jobs.jobs.Outcome` per job as it finishes
    (``tally``, a :class:`vae_mnist.progress.Tally`, says one line each).

    A job with a long IWAE bound (:func:`vae_mnist.jobs.bound_tasks.slice_count`) goes in two steps: its run
    (trained, or opened, with the posterior diagnostics), then one task per slice of its test set,
    put together here (:class:`vae_mnist.jobs.bound_tasks.SlicedBound`)."""
    from distributed import as_completed

    from .bound_tasks import SlicedBound, slice_count
    from ..core.evaluation import missing_extra_metrics
    from .jobs import Outcome, job_state
    from ..store.runs import Run, install_run_archive, pack_run, run_path

    if not jobs:
        return
    queue = as_completed()
    pending = {}  # future -> (job, what it computes: "job", "run" or a SlicedBound)
    workers = _worker_count(client)

    def submit(job, iwae_k, archive, step, part=None):
        # (The archive goes in the task itself, not scattered: a copy held by a worker that dies
        # would be lost with it, and the task could not be run again.)
        future = client.submit(execute_job, job.config.to_dict(), iwae_k, data_dir, archive, part,
                               key=f"vae-mnist-{job.config.name()}-{os.urandom(4).hex()}", pure=False, retries=retries)
        pending[future] = (job, step)
        queue.add(future)

    def submit_slices(job, archive, trained, seconds, worker):
        bound = SlicedBound(job, slice_count(job, workers), trained, seconds, worker)
        for i in range(bound.parts):
            submit(job, job.iwae_k, archive, bound, (i, bound.parts))

    def finish(job, outcome, what):
        tally.finished(job.config.name(), what)
        return outcome

    for job in jobs:
        state = job_state(job, root)
        archive = pack_run(run_path(job.config, root)) if state == "evaluate" else None
        if slice_count(job, workers) == 1:
            submit(job, job.iwae_k, archive, "job")
        elif state == "evaluate" and not missing_extra_metrics(Run(run_path(job.config, root), check=False).metrics, None)[1]:
            submit_slices(job, archive, False, 0.0, None)
        else:  # train (or add the diagnostics) first, without the bound
            submit(job, None, archive, "run")
    for future in queue:
        if future not in pending:  # a slice cancelled when another slice of its job failed
            continue
        job, step = pending.pop(future)
        try:
            result = future.result()
            if step == "run":  # the run is in the cache (without its bound) before its slices start
                install_run_archive(result["archive"], job.config, root=root, force=not result["trained"])
                submit_slices(job, result["archive"], result["trained"], result["seconds"], result["worker"])
                continue
            if isinstance(step, SlicedBound):
                if not step.add(result):
                    continue
                run = step.record(root)
                status = "trained" if step.trained else "evaluated"
                yield finish(job, Outcome(job, status, step.seconds, step.worker, run=run), step.describe())
                continue
            # The first finished copy wins (install_run keeps it); an "evaluate" result replaces
            # the run with the same weights plus the new metrics.
            run = install_run_archive(result["archive"], job.config, root=root, force=not result["trained"])
            status = "trained" if result["trained"] else "evaluated"
            what = f"{status} on {result['worker']} in {result['seconds']:.0f}s"
            if result.get("threads"):
                what += f" ({result['threads']} TensorFlow thread(s))"
            outcome = Outcome(job, status, result["seconds"], result["worker"], run=run)
        except Exception as exc:  # the task failed for good: one line, the others go on
            for other, (j, _) in list(pending.items()):
                if j == job:  # the job's other slices are of no use now
                    pending.pop(other)
                    other.cancel()
            outcome = Outcome(job, "failed", error=_one_line(exc))
            what = f"FAILED ({outcome.error})"
        finally:
            future.release()
        yield finish(job, outcome, what)


def _worker_count(client) -> int:
    """The workers the scheduler has now (at least one: tasks wait for a worker to connect)."""
    with contextlib.suppress(Exception):
        return max(1, len(client.scheduler_info().get("workers", {})))
    return 1


if __name__ == "__main__":  # the child process of execute_job
    import sys
    _task_main(Path(sys.argv[1]))
