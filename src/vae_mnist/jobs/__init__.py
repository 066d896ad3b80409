"""Jobs and the one job loop: what the book needs trained or measured, run serially or on a Dask cluster
(:mod:`.parallel`), bounds sliced across workers, the latent-size sweep. Model code only inside the task.
"""
from ..faces import lazy_face

#: the public names of this layer and the module each lives in (imported on first use)
_HOMES = {
    "CONNECT_TIMEOUT": "parallel",
    "CORES_PER_JOB": "parallel",
    "DEFAULT_WORKERS": "parallel",
    "ENV_CONNECT_TIMEOUT": "parallel",
    "ENV_SCHEDULER": "parallel",
    "ENV_SHARE_CORES": "parallel",
    "Job": "jobs",
    "Outcome": "jobs",
    "SLICES_PER_WORKER": "bound_tasks",
    "SLICE_MIN_K": "bound_tasks",
    "SlicedBound": "bound_tasks",
    "book_jobs": "jobs",
    "compute_slice": "bound_tasks",
    "connect_timeout": "parallel",
    "default_workers": "parallel",
    "do_job": "jobs",
    "execute_job": "parallel",
    "failed": "runner",
    "grid": "sweep",
    "job_state": "jobs",
    "local_cluster_env": "parallel",
    "missing_metrics": "jobs",
    "open_client": "parallel",
    "parse_choice_list": "sweep",
    "parse_int_list": "sweep",
    "result_rows": "sweep",
    "results_table": "sweep",
    "run_jobs": "runner",
    "run_on_cluster": "parallel",
    "run_serially": "jobs",
    "scheduler_address": "parallel",
    "slice_count": "bound_tasks",
    "sweep": "sweep",
    "task_threads": "parallel",
    "threads_for": "parallel",
}

__getattr__, __dir__, __all__ = lazy_face(__name__, _HOMES, ('bound_tasks', 'jobs', 'parallel', 'runner', 'sweep'))
