"""The HTML book: train what the cache lacks, execute the run pages, run the strict Sphinx build.

``vae-mnist book`` (and ``make book``) call :func:`build_book`; the tests copy the book's sources
with :func:`copy_book` and build it in a temporary folder.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from .pages import KERNEL_LOG_ARGS, KERNEL_NAME, RUNS_DIR, book_root, page_name, prune_run_pages, run_notebook
from .. import settings
from ..profiles import book_runs, current_profile, current_seeds
from .page_stamps import invalidate_execution_cache, write_stamp
from ..version import source_hash
from ..progress import reporter


def _jupyter_book_command() -> List[str]:
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    return [sys.executable, "-m", "jupyter_book.cli.main"]


# --------------------------------------------------------------------------------------
# A quiet terminal: the build's own progress and real warnings, not two known notices
# --------------------------------------------------------------------------------------
def quiet_kernel_path(root: Path) -> Optional[Path]:
    """A private ``JUPYTER_PATH`` folder with the ``python3`` kernelspec plus ``KERNEL_LOG_ARGS``.

    Those arguments (vae_mnist.build.pages) start ipykernel's application log at ERROR, which drops its
    start-up notice "Kernel is running over TCP without encryption"; the chapters' own warnings
    and stderr are cell outputs, shown in the book (execute: stderr_output: show).

    jupyter-book's execution of the chapters (MyST-NB through jupyter-cache and nbclient) offers
    no kernel arguments; a kernelspec of the same name earlier on ``JUPYTER_PATH`` is the one
    place where its kernels' command line is set. Returns ``None`` (and changes nothing) when no
    ``python3`` kernelspec is installed.
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except (ImportError, NoSuchKernel):  # pragma: no cover - make venv installs the kernelspec
        return None
    folder = Path(root) / "_build" / ".kernels"
    kernel_dir = folder / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    data = spec.to_dict()
    data["argv"] = [a for a in data["argv"] if a not in KERNEL_LOG_ARGS] + KERNEL_LOG_ARGS
    (kernel_dir / "kernel.json").write_text(json.dumps(data, indent=1))
    return folder


class _DropRetracingNotice(logging.Filter):
    """TensorFlow's "N out of the last N calls to <function ...> triggered tf.function retracing".

    The build trains its runs one after another in one process; each run builds its own epoch
    function (vae_mnist.core.training) for its own model and data, so these traces are expected, not
    the accidental retracing the notice is about. Every other TensorFlow message still shows.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_tensorflow_retracing() -> None:
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(isinstance(f, _DropRetracingNotice) for f in logger.filters):
        logger.addFilter(_DropRetracingNotice())


def run_jupyter_book(root: Path, builder: str = "html", say=print) -> int:
    """``jupyter-book build <root> --builder <builder> -n -W --keep-going``, strict; its exit code."""
    cmd = _jupyter_book_command() + ["build", str(root), "-n", "-W", "--keep-going"]
    if builder != "html":
        cmd += ["--builder", builder]
    say("$ " + " ".join(cmd))
    env = dict(os.environ)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.pop("MPLBACKEND", None)  # an inherited "Agg" would turn the chapters' figures into text
    kernels = quiet_kernel_path(root)
    if kernels is not None:
        env["JUPYTER_PATH"] = os.pathsep.join([str(kernels)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p])
    return subprocess.call(cmd, cwd=str(root), env=env)


def build_book(profile: str = "full", seeds: int = 1, root=None, data_dir=None, progress=print,
               workers: int = 1, scheduler=None, compare=None) -> int:
    """Train what the cache lacks, execute the run pages, build ``<root>/_build/html``.

    ``workers > 1`` (or a ``scheduler`` address, or ``$DASK_SCHEDULER_ADDRESS``) trains and evaluates
    the runs on a Dask cluster (:mod:`vae_mnist.jobs.parallel`); ``workers=1`` in this process, serially.
    Returns the exit code of ``jupyter-book build`` (non-zero on any warning or cell error).

    The build ends by writing its results ledger, ``_build/results.json`` (:mod:`vae_mnist.build.ledger`),
    and the Provenance page's account of what changed since the ledger ``compare`` (a ``results.json``
    or a built book), by default since this root's previous build.
    """
    say = reporter(progress)
    t_start = time.perf_counter()
    # The package's hash is taken once, before anything runs: a source edited during the build
    # makes the next build redo what this one did, never the other way round.
    src_hash = source_hash()
    profile = current_profile(profile)
    seeds = current_seeds(seeds)
    root = book_root(root)
    # the chapters' kernels read these through book_config()/current_seeds()
    os.environ[settings.PROFILE] = profile
    os.environ[settings.SEEDS] = str(seeds)
    from ..store.entries import cache_dir
    from . import ledger as ledgers
    from . import results_diff

    # the ledger this build is compared with: read now, before this build replaces it (a bad --compare stops here)
    baseline, baseline_label = None, None
    previous = ledgers.ledger_path(root)
    if compare is not None or previous.is_file():
        source = compare if compare is not None else previous
        try:
            baseline = ledgers.load_ledger(source)
            baseline_label = results_diff.ledger_label(baseline, "the previous build of this folder" if compare is None else source)
        except ledgers.LedgerError as exc:
            if compare is not None:
                raise
            say(f"note: the previous build's ledger is not comparable ({exc}); the Provenance page compares with nothing")
    # the page's include, for the first pass (never an earlier build's, which may not even pass the strict build)
    results_diff.provenance_path(root).parent.mkdir(parents=True, exist_ok=True)
    results_diff.provenance_path(root).write_text(results_diff.provenance_markdown(None))

    quiet_tensorflow_retracing()
    configs = book_runs(profile, seeds)
    say(f"book build: profile {profile}, {seeds} seed(s), {len(configs)} runs, run cache {cache_dir()}")

    # (a) train what the cache lacks, then add what metrics.json lacks (the IWAE bound of
    # profiles.iwae_configs, the posterior diagnostics of every run), serially or on a Dask cluster
    # (workers > 1, or a scheduler); nothing is recomputed on a rebuild.
    from ..errors import VaeMnistError
    from ..jobs.jobs import book_jobs
    from ..jobs.runner import failed, run_jobs

    t_eval = time.perf_counter()
    outcomes = run_jobs(book_jobs(configs, profile, seeds), workers, scheduler, data_dir=data_dir, progress=say)
    bad = failed(outcomes)
    if bad:
        raise VaeMnistError(f"{len(bad)} of {len(outcomes)} run(s) failed, the book needs them all: "
                            + "; ".join(f"{o.job.config.name()} ({o.error})" for o in bad))
    say(f"runs and their metrics (training, IWAE bounds, active units) {time.perf_counter() - t_eval:.0f}s")
    # (a'') one small classifier per data set (cached like a run) and the numbers the chapters'
    # sentences rest on: classifier measures of samples and reconstructions, k-NN of 2-D codes, KL split
    from ..measures.sample_quality import ensure_book_quality_metrics

    t_quality = time.perf_counter()
    ensure_book_quality_metrics(configs, profile, data_dir=data_dir, progress=say)
    say(f"classifiers and classifier measures {time.perf_counter() - t_quality:.0f}s")
    t_train = time.perf_counter()

    # (b) execute the run pages
    runs_dir = root / RUNS_DIR
    prune_run_pages(runs_dir, [page_name(c) for c in configs], say)
    for config in configs:
        run_notebook(config, runs_dir, data_dir=data_dir, root=root, profile=profile, book_run=True, progress=say,
                     src_hash=src_hash)
    t_pages = time.perf_counter()

    # (c) the execution cache cannot see the package: stamp it
    stamp = {"src": src_hash, "profile": profile, "seeds": seeds}
    invalidate_execution_cache(root, stamp, say)
    write_stamp(root, stamp)  # what is cached from here on was executed with this package and profile

    # (d) the HTML build, strict
    code = run_jupyter_book(root, say=say)
    # (e) the results ledger from the executed chapters and the run cache, and the Provenance page from it
    # (a second, incremental pass of the HTML build re-reads that one page; nothing re-executes)
    if code == 0:
        ledger = ledgers.book_ledger(root, profile, seeds, package=src_hash)
        diff = results_diff.diff_ledgers(baseline, ledger) if baseline is not None else None
        ledgers.write_ledger(ledger, ledgers.ledger_path(root))
        results_diff.provenance_path(root).write_text(results_diff.provenance_markdown(ledger, diff, baseline_label))
        say(f"results ledger {ledgers.ledger_path(root)}: {len(ledger['glue'])} glued values, "
            f"{len(ledger['figures'])} figures, {len(ledger['runs'])} runs; "
            + ("no earlier build to compare with" if diff is None else
               ("nothing changed since " if diff.empty else f"{len(diff.chapters())} page(s) changed since ")
               + baseline_label))
        code = run_jupyter_book(root, say=say)
        if code == 0:
            shutil.copy2(ledgers.ledger_path(root), root / "_build" / "html" / ledgers.LEDGER_FILE)
    t_end = time.perf_counter()
    say(f"book build {'finished' if code == 0 else 'FAILED (exit %d)' % code} in {t_end - t_start:.0f}s "
        f"(runs {t_train - t_start:.0f}s, run pages {t_pages - t_train:.0f}s, HTML {t_end - t_pages:.0f}s); "
        f"open {root / '_build' / 'html' / 'index.html'}")
    return code


def copy_book(dest, root=None) -> Path:
    """Copy the book's sources (``_config.yml``, ``_toc.yml``, ``CITATION.cff``, ``book/`` without executed runs) to ``dest``."""
    src = book_root(root)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml", "CITATION.cff"):  # the first page cites the book from CITATION.cff
        shutil.copy2(src / name, dest / name)
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "_build", "__pycache__", ".jupyter_cache")
    shutil.copytree(src / "book", dest / "book", ignore=ignore, dirs_exist_ok=True)
    return dest
