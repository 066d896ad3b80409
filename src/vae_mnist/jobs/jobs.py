"""Jobs: a run to have in the cache with the metrics it needs, what a job still lacks, and doing one here.

A :class:`Job` is one :class:`~vae_mnist.config.RunConfig` and the IWAE ``k`` it needs (``None``:
no bound). :func:`job_state` is the one rule for what a job still lacks (``train``, ``evaluate``
or ``done``), built on :func:`vae_mnist.core.evaluation.missing_extra_metrics`. :func:`do_job` does a job
in this process (train what is missing, then the missing metrics): the serial executor of
:func:`vae_mnist.jobs.runner.run_jobs`, and what a Dask worker's task process runs
(:mod:`vae_mnist.jobs.parallel`).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

from ..config import RunConfig
from ..errors import VaeMnistError


@dataclasses.dataclass(frozen=True)
class Job:
    """One run to have in the cache, with the metrics it needs (``iwae_k=None``: no IWAE bound)."""

    config: RunConfig
    iwae_k: Optional[int] = None


@dataclasses.dataclass
class Outcome:
    """What became of a job: ``status`` is ``cached``, ``trained``, ``evaluated`` or ``failed``."""

    job: Job
    status: str
    seconds: float = 0.0
    worker: Optional[str] = None
    error: Optional[str] = None
    run: object = None  # the installed :class:`vae_mnist.store.runs.Run` (None if failed)


def book_jobs(configs: Sequence[RunConfig], profile: Optional[str] = None, seeds: Optional[int] = None) -> List[Job]:
    """The jobs of the book build: every run, with the IWAE bound for :func:`~vae_mnist.profiles.iwae_configs`."""
    from ..profiles import iwae_configs, iwae_k_for

    with_iwae = set(iwae_configs(profile, seeds))
    return [Job(c, iwae_k_for(c, profile) if c in with_iwae else None) for c in configs]


def missing_metrics(metrics: dict, iwae_k: Optional[int]) -> bool:
    """Whether ``metrics`` lacks something a job with ``iwae_k`` asks for (:func:`~vae_mnist.core.evaluation.missing_extra_metrics`)."""
    from ..core.evaluation import missing_extra_metrics

    return any(missing_extra_metrics(metrics, iwae_k))


def job_state(job: Job, root: Path) -> str:
    """``done``, ``evaluate`` (the run is there, metrics are missing) or ``train``."""
    from ..store.runs import Run, run_path
    from ..store.run_checks import check_run

    path = run_path(job.config, root)
    if not path.exists() or check_run(path) is not None:  # missing, damaged or stale: train
        return "train"
    try:
        metrics = Run(path, check=False).metrics
    except VaeMnistError:
        return "train"
    return "evaluate" if missing_metrics(metrics, job.iwae_k) else "done"


def do_job(job: Job, root: Path, data_dir=None, progress=None, data=None):
    """Do ``job`` in this process, in the cache ``root``: train the run if missing, then add the missing
    metrics. ``data``: the whole data set (default: :func:`vae_mnist.core.data.dataset`). Returns the run."""
    from ..core.data import dataset
    from ..core.evaluation import ensure_extra_metrics
    from ..store.runs import get_run

    whole = dataset(job.config.dataset, data_dir) if data is None else data
    recorders = ()
    if job.config.latent_dim == 2:  # the latent space over training, recorded by the run's own training
        from ..measures.trajectory import record_trajectory

        recorders = (record_trajectory,)
    run = get_run(job.config, data=whole, root=root, progress=progress, recorders=recorders)
    ensure_extra_metrics(run, k=job.iwae_k, data=whole, progress=progress)
    return run


def run_serially(jobs: Sequence[Job], root: Path, data_dir, tally) -> Iterator[Outcome]:
    """The serial executor: every job in this process, one after the other; yields each one's
    :class:`Outcome` as it finishes (``tally``, a :class:`vae_mnist.progress.Tally`, says the lines)."""
    for job in jobs:
        state = job_state(job, root)
        t0 = time.perf_counter()
        tally.starting(job.config.name(), "training" if state == "train" else "evaluating")
        run = do_job(job, root, data_dir, progress=tally.say)
        seconds = time.perf_counter() - t0
        status = "trained" if state == "train" else "evaluated"
        tally.finished(job.config.name(), f"{status} in this process in {seconds:.0f}s")
        yield Outcome(job, status, seconds, "this process", run=run)
