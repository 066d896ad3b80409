"""Building the book: which runs it shows, executing run pages with papermill, the HTML build.

One place decides what the book trains and shows:

* :func:`book_config` turns a latent size (and overrides) into the :class:`RunConfig` of the
  current profile (``full`` = the paper's settings, ``smoke`` = 1 epoch on a data subset);
* :func:`book_runs` is the list of runs the build trains and executes a run page for.

Chapters call the same functions, so a chapter and the build never disagree about a run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, List, Optional

from .config import RunConfig
from .errors import ConfigError, VaeMnistError

ENV_PROFILE = "VAE_MNIST_PROFILE"
ENV_SEEDS = "VAE_MNIST_SEEDS"

#: Settings each profile applies on top of the paper's (RunConfig defaults).
PROFILES = {
    "full": {},
    "smoke": {"epochs": 1, "train_subset": 2000, "test_subset": 500},
}

#: The paper's three models (Figures 5, 6, 7).
HEADLINE_LATENTS = (2, 10, 20)

TEMPLATE = Path("book") / "templates" / "run.md"
RUNS_DIR = Path("book") / "runs"
STAMP_FILE = ".vae_mnist_stamp.json"


# --------------------------------------------------------------------------------------
# Profiles and the book's runs
# --------------------------------------------------------------------------------------
def current_profile(profile: Optional[str] = None) -> str:
    """``profile`` if given, else ``$VAE_MNIST_PROFILE``, else ``full``."""
    name = profile or os.environ.get(ENV_PROFILE) or "full"
    if name not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got {name!r}")
    return name


def current_seeds(seeds: Optional[int] = None) -> int:
    """``seeds`` if given, else ``$VAE_MNIST_SEEDS``, else 1."""
    value = seeds if seeds is not None else os.environ.get(ENV_SEEDS) or 1
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"seeds must be a positive integer, got {value!r}") from None
    if value < 1:
        raise ConfigError(f"seeds must be a positive integer, got {value}")
    return value


def book_config(latent_dim: int, profile: Optional[str] = None, **overrides) -> RunConfig:
    """The configuration the book uses for latent size ``latent_dim`` under ``profile``.

    In the ``full`` profile with no overrides this is exactly ``RunConfig(latent_dim=z)``
    (the paper's settings), so runs trained with the CLI's defaults are reused.
    """
    settings = dict(PROFILES[current_profile(profile)])
    settings.update(overrides)
    return RunConfig(latent_dim=latent_dim, **settings)


def headline_configs(profile: Optional[str] = None, seeds: Optional[int] = None, latents=HEADLINE_LATENTS):
    """The paper's models (z = 2, 10, 20), one per seed 0 .. seeds-1, seed-major within z."""
    return [book_config(z, profile, seed=s) for z in latents for s in range(current_seeds(seeds))]


def book_runs(profile: Optional[str] = None, seeds: Optional[int] = None) -> List[RunConfig]:
    """Every run the book trains and shows as a run page (THE list; add new runs here)."""
    from .analysis import beyond_configs  # the latent-size sweep, the Gaussian decoder, Fashion-MNIST

    return unique_configs(headline_configs(profile, seeds) + beyond_configs(profile))


def unique_configs(configs: Iterable[RunConfig]) -> List[RunConfig]:
    """``configs`` without repeats, in their first order."""
    seen, out = set(), []
    for c in configs:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def page_name(config: RunConfig) -> str:
    """File stem of a run page: the run's folder name in the cache."""
    return config.name()


def run_title(config: RunConfig) -> str:
    """A readable one-line title for a run page."""
    data = "MNIST" if config.dataset == "mnist" else "Fashion-MNIST"
    parts = [f"{data}", f"{config.likelihood} decoder", f"{config.epochs} epoch" + ("s" if config.epochs != 1 else ""),
             f"seed {config.seed}"]
    if config.train_subset or config.test_subset:
        parts.append(f"subset {config.train_subset or 'all'}/{config.test_subset or 'all'}")
    return f"Run: z = {config.latent_dim} ({', '.join(parts)})"


def markdown_table(headers, rows) -> str:
    """A Markdown (MyST) table: chapters display it with ``IPython.display.Markdown``."""
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_sd(values) -> tuple:
    """Mean and sample standard deviation (``nan`` for one value)."""
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else float("nan")
    return mean, sd


def format_mean_sd(values, digits: int = 2) -> str:
    """``"m"`` for one value, ``"m ± sd"`` for several."""
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {sd:.{digits}f}"


# --------------------------------------------------------------------------------------
# Hashes and stamps
# --------------------------------------------------------------------------------------
def package_dir() -> Path:
    return Path(__file__).resolve().parent


def source_hash() -> str:
    """SHA-256 of the ``vae_mnist`` package's sources (``*.py``, ``*.json``, ``*.js``), order-independent of mtime."""
    h = hashlib.sha256()
    base = package_dir()
    for p in sorted(base.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".js"):
            h.update(str(p.relative_to(base)).encode())
            h.update(b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def book_root(root=None) -> Path:
    """The folder holding ``_config.yml``, ``_toc.yml`` and ``book/``."""
    if root is not None:
        return Path(root).resolve()
    from .runs import project_root

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


def run_stamp(template: Path, parameters: dict, profile: Optional[str] = None,
              src_hash: Optional[str] = None) -> str:
    """Hash of the template, the package sources, the parameters and the profile."""
    payload = json.dumps({
        "template": hashlib.sha256(Path(template).read_bytes()).hexdigest(),
        "src": src_hash or source_hash(),
        "parameters": parameters,
        "profile": current_profile(profile),
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _read_stamp(path: Path) -> Optional[str]:
    try:
        nb = json.loads(Path(path).read_text())
        return nb.get("metadata", {}).get("vae_mnist", {}).get("stamp")
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------
# Run pages (papermill)
# --------------------------------------------------------------------------------------
def _parameters_markdown(config: RunConfig, data_dir=None) -> str:
    defaults = RunConfig()
    lines = ["## Parameters of this run", "",
             "The values papermill injected into this page (defaults are the paper's settings):", "",
             "| parameter | value | paper default |", "|---|---|---|"]
    for key, value in config.to_dict().items():
        default = getattr(defaults, key)
        shown = "all" if value is None and key.endswith("_subset") else value
        shown_default = "all" if default is None and key.endswith("_subset") else default
        mark = f"**{shown}**" if value != default else f"{shown}"
        lines.append(f"| `{key}` | {mark} | {shown_default} |")
    if data_dir is not None:
        lines.append(f"| `data_dir` | `{data_dir}` | (environment) |")
    lines += ["", f"Run folder in the cache: `{config.name()}`. Values in bold differ from the paper.", "",
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

    from .runs import get_run

    say = progress or (lambda s: None)
    if not isinstance(config, RunConfig):
        raise ConfigError(f"expected a RunConfig, got {type(config).__name__}")
    template = template_path(root)
    out_dir = Path(output_dir) if output_dir is not None else book_root(root) / RUNS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{page_name(config)}.ipynb"
    params = notebook_parameters(config, data_dir)
    stamp = run_stamp(template, params, profile, src_hash)
    if not force and out.is_file() and _read_stamp(out) == stamp:
        say(f"run page up to date: {out}")
        return out
    get_run(config, data_dir=data_dir, force=force, progress=say)
    say(f"executing run page {out.name} ...")
    t0 = time.perf_counter()
    nb = jupytext.read(template)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    tmp = out.with_name(f".{out.stem}.tmp.ipynb")
    env_profile = os.environ.get(ENV_PROFILE)
    env_backend = os.environ.pop("MPLBACKEND", None)  # the kernel must pick its inline backend
    try:
        os.environ[ENV_PROFILE] = current_profile(profile)
        executed = papermill.execute_notebook(nb, str(tmp), parameters=params, kernel_name="python3",
                                              progress_bar=False, cwd=str(out_dir),
                                              # the kernel's start-up notice ("running over TCP
                                              # without encryption") is noise, not a result
                                              extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        err = getattr(exc, "ename", None)
        if err == "ConfigError":
            raise ConfigError(str(getattr(exc, "evalue", exc))) from None
        raise
    finally:
        if env_backend is not None:
            os.environ["MPLBACKEND"] = env_backend
        if env_profile is None:
            os.environ.pop(ENV_PROFILE, None)
        else:
            os.environ[ENV_PROFILE] = env_profile
    import nbformat

    executed = postprocess_run_page(executed, config, data_dir, stamp, book_run)
    nbformat.write(executed, str(tmp))
    os.replace(tmp, out)
    say(f"run page written: {out} ({time.perf_counter() - t0:.0f}s)")
    return out


# --------------------------------------------------------------------------------------
# The book
# --------------------------------------------------------------------------------------
def _jupyter_book_command() -> List[str]:
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    return [sys.executable, "-m", "jupyter_book.cli.main"]


def invalidate_execution_cache(root: Path, stamp: dict, say=print) -> bool:
    """Drop the jupyter-cache and Sphinx's environment when the package or profile changed.

    jupyter-cache keys a notebook on its own code only, and Sphinx re-reads only changed
    files; neither sees the ``src`` package. Returns whether anything was dropped.
    """
    build = root / "_build"
    path = build / STAMP_FILE
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if old == stamp:
        return False
    dropped = False
    for sub in (".jupyter_cache", ".doctrees", "html", "jupyter_execute"):
        if (build / sub).exists():
            shutil.rmtree(build / sub, ignore_errors=True)
            dropped = True
    if dropped:
        why = "first build with a stamp" if old is None else \
            ", ".join(k for k in stamp if old.get(k) != stamp[k]) + " changed"
        say(f"execution cache dropped ({why}): every chapter will re-execute")
    return dropped


def _write_stamp(root: Path, stamp: dict) -> None:
    build = root / "_build"
    build.mkdir(parents=True, exist_ok=True)
    (build / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")


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


def build_book(profile: str = "full", seeds: int = 1, root=None, data_dir=None, progress=print) -> int:
    """Train what the cache lacks, execute the run pages, build ``<root>/_build/html``.

    Returns the exit code of ``jupyter-book build`` (non-zero on any warning or cell error).
    """
    say = progress or (lambda s: None)
    t_start = time.perf_counter()
    # The package's hash is taken once, before anything runs: a source edited during the build
    # makes the next build redo what this one did, never the other way round.
    src_hash = source_hash()
    profile = current_profile(profile)
    seeds = current_seeds(seeds)
    root = book_root(root)
    os.environ[ENV_PROFILE] = profile  # chapters read these through book_config()/current_seeds()
    os.environ[ENV_SEEDS] = str(seeds)
    from .runs import cache_dir, get_run

    configs = book_runs(profile, seeds)
    say(f"book build: profile {profile}, {seeds} seed(s), {len(configs)} runs, run cache {cache_dir()}")

    # (a) train or load every run, with progress on the terminal
    for i, config in enumerate(configs, 1):
        say(f"[{i}/{len(configs)}] {config.name()}")
        get_run(config, data_dir=data_dir, progress=say)
    # (a') what metrics.json lacks: the IWAE bound (vae_mnist.analysis.iwae_configs) and the
    # posterior diagnostics of every run; nothing is recomputed on a rebuild.
    from .analysis import ensure_book_metrics

    t_eval = time.perf_counter()
    ensure_book_metrics(configs, profile, seeds, data_dir=data_dir, progress=say)
    say(f"evaluation (IWAE bounds, active units) {time.perf_counter() - t_eval:.0f}s")
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
    _write_stamp(root, stamp)  # what is cached from here on was executed with this package and profile

    # (d) the HTML build, strict
    cmd = _jupyter_book_command() + ["build", str(root), "-n", "-W", "--keep-going"]
    say("$ " + " ".join(cmd))
    env = dict(os.environ)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.pop("MPLBACKEND", None)  # an inherited "Agg" would turn the chapters' figures into text
    code = subprocess.call(cmd, cwd=str(root), env=env)
    t_end = time.perf_counter()
    say(f"book build {'finished' if code == 0 else 'FAILED (exit %d)' % code} in {t_end - t_start:.0f}s "
        f"(runs {t_train - t_start:.0f}s, run pages {t_pages - t_train:.0f}s, HTML {t_end - t_pages:.0f}s); "
        f"open {root / '_build' / 'html' / 'index.html'}")
    return code


def copy_book(dest, root=None) -> Path:
    """Copy the book's sources (``_config.yml``, ``_toc.yml``, ``book/`` without executed runs) to ``dest``."""
    src = book_root(root)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(src / name, dest / name)
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "_build", "__pycache__", ".jupyter_cache")
    shutil.copytree(src / "book", dest / "book", ignore=ignore, dirs_exist_ok=True)
    return dest


__all__ = ["PROFILES", "HEADLINE_LATENTS", "book_config", "book_runs", "headline_configs", "current_profile",
           "current_seeds", "run_notebook", "build_book", "source_hash", "copy_book", "page_name", "run_title"]
