"""The one job loop: have every job of a list done in the cache, serially or on a Dask cluster.

:func:`run_jobs` is what ``vae-mnist book``, ``vae-mnist sweep`` and the benchmarks call. It looks
at what each job still lacks (:func:`vae_mnist.jobs.jobs.job_state`), reports what the cache has, takes
the lock of every run it will work on (a run another process is working on is set aside and
looked at again when that lock is free: it is usually finished then), and hands the rest to an
executor: this process (:func:`vae_mnist.jobs.jobs.run_serially`, ``workers=1`` without a scheduler) or a
Dask cluster (:func:`vae_mnist.jobs.parallel.run_on_cluster`). One line per finished job (``[done/total]``).
"""
from __future__ import annotations

import contextlib
from typing import Iterable, List, Optional, Sequence

from .jobs import Job, Outcome, job_state, run_serially
from ..progress import Tally, reporter


def run_jobs(jobs: Iterable[Job], workers: int = 1, scheduler: Optional[str] = None, *, client=None,
             data_dir=None, root=None, progress=print, retries: int = 1) -> List[Outcome]:
    """Have every job done in the cache ``root``; one :class:`~vae_mnist.jobs.jobs.Outcome` per job, in order.

    Nothing is started when the cache has every run and metric already. Otherwise the jobs go to
    ``client`` if given, else to the scheduler at ``scheduler`` / ``$DASK_SCHEDULER_ADDRESS``, else to
    an embedded local cluster of ``workers`` processes when ``workers > 1``, else to this process.
    On a cluster a failed job is reported in one line and does not stop the others; in this
    process an error stops the loop (it is this process's error).
    """
    from .parallel import open_client, run_on_cluster, scheduler_address
    from ..store.entries import LockBusy, ensure_root
    from ..store.runs import run_lock

    say = reporter(progress)
    jobs = list(dict.fromkeys(jobs))  # no repeats, first order
    root = ensure_root(root)
    outcomes = {}
    todo = []
    for job in jobs:
        if job_state(job, root) == "done":
            outcomes[job] = Outcome(job, "cached")
        else:
            todo.append(job)
    total = len(jobs)
    if not todo:
        say(f"all {total} run(s) and their metrics are in the cache {root}")
        return _with_runs([outcomes[j] for j in jobs], root)
    say(f"{len(todo)} of {total} run(s) to train or evaluate, cache {root}")
    on_cluster = client is not None or workers > 1 or scheduler_address(scheduler) is not None

    tally = Tally(total, done=total - len(todo), progress=say)
    with contextlib.ExitStack() as stack:
        if on_cluster and client is None:
            client = stack.enter_context(open_client(workers, scheduler, say))

        def execute(batch):
            if on_cluster:
                done = run_on_cluster(client, batch, root, data_dir, retries, tally)
            else:
                done = run_serially(batch, root, data_dir, tally)
            outcomes.update((outcome.job, outcome) for outcome in done)

        batch, waiting = [], []
        for job in todo:
            try:
                stack.enter_context(run_lock(job.config, root, timeout=0))
                batch.append(job)
            except LockBusy:
                waiting.append(job)  # another process works on it: come back when it is done
        execute(batch)
        for job in waiting:
            # Blocks until the other process is done; then the run may be there already.
            stack.enter_context(run_lock(job.config, root, progress=say))
            if job_state(job, root) == "done":
                outcomes[job] = Outcome(job, "cached")
                tally.finished(job.config.name(), "finished by another process")
            else:
                execute([job])
    return _with_runs([outcomes[j] for j in jobs], root)


def _with_runs(outcomes: List[Outcome], root) -> List[Outcome]:
    """Every cached outcome with its :class:`~vae_mnist.store.runs.Run` (opened with the cheap check)."""
    from ..store.runs import Run, run_path

    for o in outcomes:
        if o.status == "cached" and o.run is None:
            o.run = Run(run_path(o.job.config, root), check=False)
    return outcomes


def failed(outcomes: Sequence[Outcome]) -> List[Outcome]:
    return [o for o in outcomes if o.status == "failed"]
