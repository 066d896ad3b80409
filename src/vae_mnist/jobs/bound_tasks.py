"""A long IWAE bound on a Dask cluster: one task per slice of the test set, put together by the client.

The bound of a full build (k = 1000 or 5000 samples for each of 10,000 test images) is minutes of
work; as one task it would run on one worker while the others idle (at the end of a build, the last
bound ran alone on one core). So on a cluster a job whose bound has ``k >= SLICE_MIN_K`` is done in
two steps (:func:`vae_mnist.jobs.parallel.run_on_cluster`): its run, trained or opened, with the posterior
diagnostics; then :func:`slice_count` tasks, each computing the per-image values of one slice of the
test set (:func:`compute_slice`, in a process of its own on a worker like any task). The client puts
the slices together in order and records the bound (:class:`SlicedBound`). Each slice starts on a
batch boundary of the bound (:func:`vae_mnist.core.iwae.iwae_slices`) and its images get the noise of the
one-pass computation, so the values, and the bound, are bit-identical to one pass (tested).
"""
from __future__ import annotations

import io
import time
from typing import List, Optional, Tuple

import numpy as np

#: The smallest k whose bound a cluster cuts into slices (the smoke profile's k = 50 is seconds of work).
SLICE_MIN_K = 500
#: Slices per worker: more than one, so that a worker done early takes another slice.
SLICES_PER_WORKER = 2


def slice_count(job, workers: int) -> int:
    """How many tasks compute ``job``'s bound on ``workers`` workers (1: the job's own task does it)."""
    if job.iwae_k is None or int(job.iwae_k) < SLICE_MIN_K or workers < 2:
        return 1
    return workers * SLICES_PER_WORKER


def compute_slice(run, k: int, part: Tuple[int, int], data_dir=None) -> Tuple[List[int], bytes]:
    """On a worker: slice ``part = (i, parts)`` of ``run``'s bound at ``k``: ``([a, b], values as .npy bytes)``
    (an empty slice when the test set has fewer batches than ``parts``)."""
    from ..core.data import run_data
    from ..core.iwae import iwae_bound, iwae_slices

    x = run_data(run.config, data_dir).x_test
    i, parts = part
    slices = iwae_slices(len(x), k, parts)
    buf = io.BytesIO()
    if i >= len(slices):
        np.save(buf, np.empty(0, dtype="float64"))
        return [len(x), len(x)], buf.getvalue()
    a, b = slices[i]
    np.save(buf, iwae_bound(run.model, x, k=k, seed=run.config.seed, per_image=True, images=(a, b))["per_image"])
    return [a, b], buf.getvalue()


class SlicedBound:
    """The slices of one job's bound as they come back; :meth:`record` writes the bound into the run."""

    def __init__(self, job, parts: int, trained: bool, seconds: float, worker: Optional[str]):
        self.job, self.parts, self.trained, self.worker = job, parts, trained, worker
        self.run_seconds = seconds
        self.slices = []  # (a, b, values, seconds)
        self.started = time.perf_counter()

    def add(self, result: dict) -> bool:
        """Keep one slice's result; whether every slice is in."""
        a, b = result["images"]
        self.slices.append((a, b, np.load(io.BytesIO(result["values"])), result["seconds"]))
        return len(self.slices) == self.parts

    @property
    def seconds(self) -> float:
        return self.run_seconds + (time.perf_counter() - self.started)

    def values(self) -> np.ndarray:
        """Every image's value in order; an error if the slices do not tile the test set."""
        parts = sorted(s for s in self.slices if s[0] < s[1])
        edges = [(a, b) for a, b, _, _ in parts]
        if not parts or parts[0][0] != 0 or any(b != a2 for (_, b), (a2, _) in zip(edges, edges[1:])):
            raise RuntimeError(f"{self.job.config.name()}: the bound's slices {edges} do not cover the test set")
        return np.concatenate([v for _, _, v, _ in parts])

    def record(self, root):
        """Write the bound into the installed run (its metrics and per-image values); returns the run."""
        from ..core.evaluation import bound_metrics
        from ..store.runs import Run, run_path

        values = self.values()
        run = Run(run_path(self.job.config, root), check=False)
        work = sum(s[3] for s in self.slices)
        run.update_metrics(**bound_metrics(run, int(self.job.iwae_k), values, work))
        return run

    def describe(self) -> str:
        status = "trained" if self.trained else "evaluated"
        where = f" on {self.worker}" if self.worker else ""
        work = sum(s[3] for s in self.slices)
        return (f"{status}{where}, IWAE k={self.job.iwae_k} in {self.parts} slices ({work:.0f}s of work), "
                f"{self.seconds:.0f}s in all")
