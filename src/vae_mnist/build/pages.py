"""Run pages: the run template executed with papermill for one configuration.

:func:`run_notebook` trains the configuration (or loads it from the run cache), executes
``book/templates/run.md`` for it into ``book/runs/<run name>.ipynb`` and turns papermill's injected
parameters into a readable table. A page is re-executed only when its stamp changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Iterable, Optional

from ..config import RunConfig
from ..errors import ConfigError, VaeMnistError
from .. import settings
from ..store.temporaries import remove_leftovers
from ..profiles import current_profile
from .page_stamps import read_stamp, run_stamp
from ..progress import reporter

TEMPLATE = Path("book") / "templates" / "run.md"
RUNS_DIR = Path("book") / "runs"


def page_name(config: RunConfig) -> str:
    """File stem of a run page: the run's folder name in the cache."""
    return config.name()


def run_title(config: RunConfig) -> str:
    """A readable one-line title for a run page."""
    data = "MNIST" if config.dataset == "mnist" else "Fashion-MNIST"
    parts = [f"{data}", f"{config.likelihood} decoder", f"{config.epochs} epoch" + ("s" if config.epochs != 1 else ""),
             f"seed {config.seed}"]
    if config.binarize != "none":
        parts.append(f"{config.binarize} binarization")
    if config.reconstruction != "sum":
        parts.append(f"reconstruction term: {config.reconstruction} over pixels")
    if config.train_subset or config.test_subset:
        parts.append(f"subset {config.train_subset or 'all'}/{config.test_subset or 'all'}")
    return f"Run: z = {config.latent_dim} ({', '.join(parts)})"


#: The files of a run folder that a run page offers for download, with what each holds.
RUN_DOWNLOADS = (
    ("model.keras", "the whole VAE (Keras native format; `vae_mnist.load_model`, as below)"),
    ("encoder.keras", "the encoder, a plain Keras model: image to code mean and log-variance (`keras.models.load_model`)"),
    ("decoder.keras", "the decoder, a plain Keras model: code to pixel logits (`keras.models.load_model`; sigmoid gives the pixels)"),
    ("config.json", "the run's configuration (vae_mnist.RunConfig)"),
    ("metrics.json", "its test-set numbers"),
    ("history.json", "its losses per epoch"),
)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB" if n >= 1e3 else f"{n} B"


def _enclosing_book(start: Path) -> Optional[Path]:
    """The nearest folder at or above ``start`` holding ``_config.yml`` and ``book/`` (a book root)."""
    for folder in (start, *start.parents):
        if (folder / "_config.yml").is_file() and (folder / "book").is_dir():
            return folder
    return None


def run_downloads_markdown(run_dir, root=None) -> str:
    """A table of download links to a run's files, for its run page (MyST Markdown).

    Each link is Sphinx's ``{download}`` role; Sphinx copies the file into the built book's
    ``_downloads/``, so the links work from disk and on a static host, and a missing file fails the
    strict build. The path is written relative to the book's root (a leading ``/`` means "from the
    source folder" to Sphinx), so the page builds wherever it was executed from: ``vae-mnist run``
    (papermill in ``book/runs``), or the README's raw ``papermill`` command from the book's root, with
    or without ``--cwd``. The root is ``root`` if given, else the book enclosing the working directory,
    else the project's (:func:`book_root`).
    """
    run_dir = Path(run_dir).resolve()
    if root is None:
        root = _enclosing_book(Path.cwd().resolve()) or book_root()
    root = Path(root).resolve()
    rows = ["| file | what it holds | size |", "|---|---|---|"]
    for name, what in RUN_DOWNLOADS:
        path = run_dir / name
        if not path.is_file():
            raise VaeMnistError(f"run {run_dir.name} has no {name}")
        rel = "/" + Path(os.path.relpath(path, root)).as_posix()
        rows.append(f"| {{download}}`{name} <{rel}>` | {what} | {_size(path.stat().st_size)} |")
    return "\n".join(rows)


def book_root(root=None) -> Path:
    """The folder holding ``_config.yml``, ``_toc.yml`` and ``book/``."""
    if root is not None:
        return Path(root).resolve()
    from ..store.entries import project_root

    proj = project_root()
    if proj is not None and (proj / "_config.yml").is_file():
        return proj
    cwd = Path.cwd()
    if (cwd / "_config.yml").is_file() and (cwd / "book").is_dir():
        return cwd
    raise VaeMnistError("cannot find the book (a folder with _config.yml and book/); pass --root")


def template_path(root=None) -> Path:
    path = book_root(root) / TEMPLATE
    if not path.is_file():
        raise VaeMnistError(f"run template {path} not found")
    return path


def notebook_parameters(config: RunConfig, data_dir=None) -> dict:
    params = config.to_dict()
    if data_dir is not None:
        params["data_dir"] = str(data_dir)
    return params


def _parameters_markdown(config: RunConfig, data_dir=None) -> str:
    from ..measures.paper import settings_table  # one table of what the paper states, its quotes checked

    lines = ["## Parameters of this run", "",
             "The values papermill injected into this page, the book's defaults, and what the paper states:", "",
             settings_table(config, RunConfig(), data_dir),
             f"Run folder in the cache: `{config.name()}`.", "",
             "Rerun this configuration (or change any value) with",
             "```bash",
             _cli_command(config),
             "```"]
    return "\n".join(lines)


def _cli_command(config: RunConfig) -> str:
    defaults = RunConfig()
    parts = ["vae-mnist run"]
    for key, value in config.to_dict().items():
        if value != getattr(defaults, key) or key == "latent_dim":
            parts.append(f"--{key.replace('_', '-')} {value}")
    return " ".join(parts)


def postprocess_run_page(nb, config: RunConfig, data_dir=None, stamp: Optional[str] = None,
                         book_run: bool = False):
    """Turn papermill's raw ``injected-parameters`` cell into a readable parameters block.

    The defaults cell (tag ``parameters``) and the injected cell are hidden from the page
    (tag ``remove-cell``); a markdown table of the run's parameters takes their place, and the
    page's title names the run. The stamp goes into the notebook's metadata.
    """
    import nbformat

    cells = []
    inserted = False
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "markdown" and not cells and cell.source.lstrip().startswith("# "):
            rest = cell.source.lstrip().split("\n", 1)
            cell.source = f"# {run_title(config)}\n" + (rest[1] if len(rest) > 1 else "")
        if "parameters" in tags or "injected-parameters" in tags:
            if "remove-cell" not in tags:
                tags.append("remove-cell")
            cell.metadata["tags"] = tags
            cells.append(cell)
            if "injected-parameters" in tags and not inserted:
                cells.append(nbformat.v4.new_markdown_cell(_parameters_markdown(config, data_dir)))
                inserted = True
            continue
        cells.append(cell)
    if not inserted:  # no parameters injected (all defaults): still show the block after the defaults
        for i, cell in enumerate(cells):
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                cells.insert(i + 1, nbformat.v4.new_markdown_cell(_parameters_markdown(config, data_dir)))
                break
    nb.cells = cells
    for cell in nb.cells:  # nbformat >= 4.5 wants ids on new cells
        if "id" not in cell:
            cell["id"] = hashlib.sha1(cell.source.encode()).hexdigest()[:12]
    pm = nb.metadata.get("papermill")
    if pm is not None and not isinstance(pm.get("input_path"), (str, type(None))):
        pm["input_path"] = str(TEMPLATE)  # papermill stores an in-memory input notebook whole
    nb.metadata["vae_mnist"] = {"stamp": stamp, "config": config.to_dict(), "name": config.name(),
                                "book_run": bool(book_run)}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


#: Kernel arguments for the book's kernels: ipykernel's application log (its start-up notices, e.g.
#: "Kernel is running over TCP without encryption", which every local kernel prints) at ERROR, and
#: output written to file descriptor 2 by C++ code (TensorFlow's start-up lines, which ignore
#: ``TF_CPP_MIN_LOG_LEVEL``) left on the kernel process's stderr instead of becoming cell output.
#: The notebook's own warnings and ``sys.stderr`` are cell outputs and unaffected.
KERNEL_LOG_ARGS = ["--IPKernelApp.log_level=ERROR", "--IPKernelApp.capture_fd_output=False"]
KERNEL_NAME = "python3"


def kernel_log_arguments() -> list:
    """:data:`KERNEL_LOG_ARGS`, unless the ``python3`` kernelspec passes them already.

    The book build puts its own copy of the kernelspec, with these arguments, first on
    ``JUPYTER_PATH`` (vae_mnist.build.html_book.quiet_kernel_path); a chapter that runs papermill inherits
    it, and traitlets refuses an option given twice.
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        argv = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv
    except Exception:  # no such kernelspec: papermill reports that itself
        return list(KERNEL_LOG_ARGS)
    return [a for a in KERNEL_LOG_ARGS if a not in argv]


def run_notebook(config: RunConfig, output_dir=None, data_dir=None, force: bool = False, *,
                 root=None, profile: Optional[str] = None, book_run: bool = False,
                 progress=print, src_hash: Optional[str] = None) -> Path:
    """Execute the run template for ``config`` with papermill into ``<output_dir>/<name>.ipynb``.

    The run is trained first (or loaded from the run cache) in this process, so training
    progress shows on the terminal; the notebook then loads it. Re-execution is skipped when
    the existing page carries the same stamp (template + package sources + parameters +
    profile), unless ``force`` (which also retrains).
    """
    import jupytext
    import papermill

    from ..store.runs import get_run

    say = reporter(progress)
    if not isinstance(config, RunConfig):
        raise ConfigError(f"expected a RunConfig, got {type(config).__name__}")
    template = template_path(root)
    out_dir = Path(output_dir) if output_dir is not None else book_root(root) / RUNS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    # pages half-written by killed processes (``.<name>.tmp-<pid>.ipynb``, owner gone) go first
    remove_stale_pages(out_dir, say)
    out = out_dir / f"{page_name(config)}.ipynb"
    params = notebook_parameters(config, data_dir)
    stamp = run_stamp(template, params, profile, src_hash)
    if not force and out.is_file() and read_stamp(out) == stamp:
        say(f"run page up to date: {out}")
        return out
    get_run(config, data_dir=data_dir, force=force, progress=say)
    say(f"executing run page {out.name} ...")
    t0 = time.perf_counter()
    nb = jupytext.read(template)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}.ipynb")  # the PID tells the next start who owned it
    try:
        # the kernel reads the profile (book_config) and picks its own inline backend
        with settings.kernel_environment(PROFILE=current_profile(profile), MPLBACKEND=None):
            executed = papermill.execute_notebook(nb, str(tmp), parameters=params, kernel_name="python3",
                                                  progress_bar=False, cwd=str(out_dir),
                                                  extra_arguments=kernel_log_arguments())
    except BaseException as exc:  # Ctrl-C and SIGTERM too: no half-written page is kept
        tmp.unlink(missing_ok=True)
        err = getattr(exc, "ename", None)
        if err == "ConfigError":
            raise ConfigError(str(getattr(exc, "evalue", exc))) from None
        raise
    import nbformat

    executed = postprocess_run_page(executed, config, data_dir, stamp, book_run)
    nbformat.write(executed, str(tmp))
    os.replace(tmp, out)
    say(f"run page written: {out} ({time.perf_counter() - t0:.0f}s)")
    return out


def remove_stale_pages(runs_dir: Path, say=None) -> list:
    """Remove temporary run pages (``.<name>.tmp-<pid>.ipynb``, and the older ``.<name>.tmp.ipynb``)
    whose writing process is gone (see :mod:`vae_mnist.store.temporaries`); pages being written stay."""
    return remove_leftovers(runs_dir, ".*.tmp*.ipynb", say)


def prune_run_pages(runs_dir: Path, keep: Iterable[str], say=print) -> None:
    """Remove run pages that an earlier book build wrote but the current book no longer shows.

    Pages written by ``vae-mnist run`` (not marked ``book_run``) are the reader's own and stay.
    """
    keep = set(keep)
    if not runs_dir.is_dir():
        return
    for page in sorted(runs_dir.glob("*.ipynb")):
        if page.stem in keep or page.name.startswith("."):
            continue
        try:
            meta = json.loads(page.read_text()).get("metadata", {}).get("vae_mnist", {})
        except (OSError, ValueError):
            continue
        if meta.get("book_run"):
            say(f"removing run page of an earlier book build: {page.name}")
            page.unlink()
