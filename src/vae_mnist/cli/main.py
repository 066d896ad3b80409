"""The ``vae-mnist`` command line.

Every bad input exits with status 2 and one line ``vae-mnist: error: ...``; never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from .types import (existing_dir,  # noqa: F401
                        non_negative_int, positive_float, positive_int, seed_number)
from .results import add_results_commands
from .. import settings
from ..config import BINARIZATIONS, DATASETS, LIKELIHOODS, MAX_SEED, RECONSTRUCTIONS, RunConfig
from ..errors import ConfigError, Terminated, VaeMnistError
from ..profiles import current_profile, current_seeds


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


#: RunConfig's defaults: every option that makes up a run takes its default (and its choices) from there
DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The options that make up a RunConfig (shared by ``train`` and ``run``)."""
    d = DEFAULTS
    p.add_argument("--latent-dim", "-z", type=positive_int, default=d["latent_dim"],
                   help=f"latent size z (default {d['latent_dim']})")
    add_training_arguments(p)
    p.add_argument("--seed", type=seed_number, default=d["seed"], help=f"random seed, 0 to {MAX_SEED} (default {d['seed']})")
    p.add_argument("--likelihood", choices=LIKELIHOODS, default=d["likelihood"],
                   help=f"decoder likelihood (default {d['likelihood']}, a choice of this book: see its chapter on choices)")
    p.add_argument("--dataset", choices=DATASETS, default=d["dataset"], help=f"data set (default {d['dataset']})")
    p.add_argument("--binarize", choices=BINARIZATIONS, default=d["binarize"],
                   help="none: grey levels (default, the paper); dynamic: Bernoulli-resampled binary training "
                        "images, binary test set (Burda et al. 2016)")
    p.add_argument("--reconstruction", choices=RECONSTRUCTIONS, default=d["reconstruction"],
                   help="reconstruction term summed over pixels (default, the ELBO) or averaged (early Keras example)")
    p.add_argument("--data-dir", type=existing_dir, default=None,
                   help="folder with the four IDX files (default: $VAE_MNIST_DATA_DIR, else Keras's download)")


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Epochs, batch size, learning rate and the subsets: the same options for ``train``, ``run`` and ``sweep``."""
    d = DEFAULTS
    p.add_argument("--epochs", type=positive_int, default=d["epochs"], help=f"training epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                   help=f"batch size (default {d['batch_size']})")
    p.add_argument("--learning-rate", type=positive_float, default=d["learning_rate"],
                   help=f"Adam learning rate (default {d['learning_rate']:g})")
    p.add_argument("--train-subset", type=positive_int, default=None, help="use only the first N training images")
    p.add_argument("--test-subset", type=positive_int, default=None, help="use only the first N test images")


def config_from_args(args) -> RunConfig:
    """The RunConfig of the parsed options (the fields the command line has; the others keep their defaults)."""
    return RunConfig(**{name: getattr(args, name) for name in DEFAULTS if hasattr(args, name)})


def _print_metrics(metrics: dict, as_json: bool) -> None:
    keys = [("test_neg_elbo", "test negative ELBO"), ("test_reconstruction", "  reconstruction"),
            ("test_kl", "  KL"), ("iwae_nll", "IWAE NLL"), ("active_units", "active units"),
            ("seconds_per_epoch", "seconds per epoch")]
    for k, label in keys:
        if k in metrics:
            v = metrics[k]
            extra = ""
            if k == "iwae_nll" and "iwae_k" in metrics:
                extra = f" ± {metrics.get('iwae_stderr', float('nan')):.2f} (k={metrics['iwae_k']})"
            print(f"{label:<22} {v:.2f}{extra}" if isinstance(v, float) else f"{label:<22} {v}{extra}")
    if as_json:
        print(json.dumps(metrics, sort_keys=True))


def cmd_train(args) -> int:
    config = config_from_args(args)
    from ..store.entries import cache_dir

    cache_dir()  # a cache path that is a file: one line before any work
    from ..store.runs import get_run

    run = get_run(config, data_dir=args.data_dir, force=args.force, progress=_progress(args.json))
    print(f"run: {run.path}")
    _print_metrics(run.metrics, args.json)
    return 0


def _progress(quiet_stdout: bool):
    # Progress goes to stderr when stdout carries machine-readable output.
    if quiet_stdout:
        return lambda s: print(s, file=sys.stderr, flush=True)
    return lambda s: print(s, flush=True)


def resolve_run(text: str):
    """A run from a folder path or a run name in the cache, checked fully (the model loads).

    A damaged run of the cache is moved aside and reported in one line naming the file.
    """
    from ..store.entries import cache_dir
    from ..store.runs import open_run

    for candidate in (Path(text).expanduser(), cache_dir() / text):
        if candidate.is_dir():
            return open_run(candidate, say=lambda s: print(s, file=sys.stderr))
    raise VaeMnistError(f"no run {text!r} (neither a folder nor a run name in {cache_dir()})")


def cmd_evaluate(args) -> int:
    run = resolve_run(args.run)
    from ..core.evaluation import negative_elbo
    from ..store.runs import load_data_for

    data = load_data_for(run.config, args.data_dir)
    result = negative_elbo(run.model, data.x_test, seed=run.config.seed)
    metrics = {"test_neg_elbo": result["neg_elbo"], "test_reconstruction": result["reconstruction"],
               "test_kl": result["kl"]}
    if args.iwae_k:
        from ..core.iwae import iwae_bound

        iw = iwae_bound(run.model, data.x_test, k=args.iwae_k, seed=run.config.seed,
                        progress=_progress(args.json))
        metrics.update(iwae_nll=iw["nll"], iwae_stderr=iw["stderr"], iwae_k=iw["k"])
        run.update_metrics(**metrics)
    print(f"run: {run.path}")
    _print_metrics(metrics, args.json)
    return 0


def cmd_sample(args) -> int:
    run = resolve_run(args.run)
    from ..figures.paper import prior_samples_figure

    fig = prior_samples_figure(run.model, n=args.n, seed=args.seed)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150, bbox_inches="tight")
    print(f"wrote {args.n} samples from the prior of {run.path.name} to {out}")
    return 0


def cmd_list(args) -> int:
    """Every run of the cache, one line each; a damaged one is reported (and moved aside), the rest go on."""
    from ..store.entries import cache_dir
    from ..store.runs import scan_runs

    entries = scan_runs(say=lambda s: print(s, file=sys.stderr))
    if not any(e.run is not None for e in entries):
        print(f"no finished runs in {cache_dir()}")
    for e in entries:
        if e.run is None:
            where = f"; moved aside to {e.moved_to.name}" if e.moved_to is not None else ""
            print(f"{e.path.name}  DAMAGED ({e.problem.file}: {e.problem.reason}){where}")
            continue
        line = f"{e.path.name}  test -ELBO {e.run.metrics['test_neg_elbo']:.2f}"
        if e.problem is not None:
            line += f"  (stale: {e.problem.reason}; retrained when next used)"
        print(line)
    return 0


def cmd_run(args) -> int:
    config = config_from_args(args)
    from ..build.pages import run_notebook

    out = run_notebook(config, output_dir=args.output_dir, data_dir=args.data_dir, force=args.force)
    print(f"executed run page: {out}")
    return 0


def cmd_book(args) -> int:
    # Environment variables are read here, inside main()'s error handling (never while building the parser).
    profile = current_profile(args.profile)
    seeds = current_seeds(args.seeds)
    from ..jobs.parallel import scheduler_address

    scheduler_address(args.scheduler)  # a malformed address stops here, before any work
    from ..build.html_book import build_book

    return build_book(profile=profile, seeds=seeds, root=args.root, workers=_workers(args),
                      scheduler=args.scheduler, compare=args.compare)


def cmd_pdf(args) -> int:
    from ..build.pdf import build_pdf

    build_pdf(root=args.root, output=args.output, html_url=args.html_url)
    return 0


def _workers(args) -> int:
    from ..jobs.parallel import DEFAULT_WORKERS

    return args.workers if args.workers is not None else DEFAULT_WORKERS


def cmd_sweep(args) -> int:
    """Train and evaluate a grid of configurations (what the cache lacks), then print a table."""
    from ..jobs.parallel import scheduler_address
    from ..jobs.sweep import grid, parse_choice_list, parse_int_list, result_rows, results_table, sweep

    scheduler_address(args.scheduler)  # a malformed address stops here, before any work
    configs = grid(latent_dims=parse_int_list(args.latent_dims, "--latent-dims", minimum=1),
                   seeds=parse_int_list(args.seeds, "--seeds", minimum=0, maximum=MAX_SEED),
                   likelihoods=parse_choice_list(args.likelihood, LIKELIHOODS, "--likelihood"),
                   datasets=parse_choice_list(args.dataset, DATASETS, "--dataset"),
                   binarize=parse_choice_list(args.binarize, BINARIZATIONS, "--binarize"),
                   reconstruction=parse_choice_list(args.reconstruction, RECONSTRUCTIONS, "--reconstruction"),
                   epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                   train_subset=args.train_subset, test_subset=args.test_subset)
    say = _progress(args.json)
    say(f"sweep: {len(configs)} configuration(s)")
    outcomes = sweep(configs, iwae_k=args.iwae_k, workers=_workers(args),
                     scheduler=args.scheduler, data_dir=args.data_dir, progress=say)
    rows = result_rows(outcomes)
    if args.pages:
        from ..build.pages import run_notebook

        for row, o in zip(rows, outcomes):
            if o.status != "failed":
                row["page"] = str(run_notebook(o.job.config, output_dir=args.output_dir, data_dir=args.data_dir,
                                               progress=say))
    if args.json:
        print(json.dumps(rows, sort_keys=True))
    else:
        print(results_table(rows))
    bad = [r for r in rows if r["status"] == "failed"]
    if bad:
        print(f"vae-mnist: error: {len(bad)} of {len(rows)} run(s) failed: "
              + "; ".join(f"{r['name']} ({r['error']})" for r in bad), file=sys.stderr)
        return 1
    return 0


def _add_cluster_arguments(p, workers_help: str) -> None:
    from ..jobs.parallel import DEFAULT_WORKERS, ENV_SCHEDULER

    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help=workers_help.replace("%(default_workers)s", str(DEFAULT_WORKERS)))
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"submit to the Dask scheduler at tcp://HOST:PORT (default ${ENV_SCHEDULER} if set)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vae-mnist", description="The paper's MLP VAE on MNIST: train, evaluate, sample, run, build the book.")
    from ..version import __version__

    parser.add_argument("--version", action="version", version=f"vae-mnist {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a configuration (or load it from the run cache)")
    add_config_arguments(p)
    p.add_argument("--force", action="store_true", help="retrain even if the run is cached")
    p.add_argument("--json", action="store_true", help="print metrics.json as the last line on stdout")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set negative ELBO (and optionally the IWAE bound) of a run")
    p.add_argument("run", help="a run folder, or a run name in the cache")
    p.add_argument("--iwae-k", type=positive_int, default=None, help="also compute the k-sample IWAE bound")
    p.add_argument("--data-dir", type=existing_dir, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("sample", help="a grid of images sampled from the prior")
    p.add_argument("run", help="a run folder, or a run name in the cache")
    p.add_argument("--n", type=positive_int, default=100, help="number of samples (default 100)")
    p.add_argument("--seed", type=seed_number, default=0)
    p.add_argument("-o", "--output", default="samples.png")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("list", help="finished runs in the cache")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="execute the book's run template with papermill for one configuration")
    add_config_arguments(p)
    p.add_argument("--output-dir", default=None, help="where the executed page goes (default book/runs)")
    p.add_argument("--force", action="store_true", help="retrain and re-execute")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("book", help="train what is missing, execute the run pages and build the HTML book")
    p.add_argument("--profile", choices=["full", "smoke"], default=None,
                   help="full (the book's defaults: 50 epochs, batch 128, all images) or smoke (tiny); default $VAE_MNIST_PROFILE, else full")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="seeds per headline model (default $VAE_MNIST_SEEDS, else $SEEDS, else 1)")
    p.add_argument("--root", default=None, help="book root (default: the project)")
    _add_cluster_arguments(p, "worker processes of the embedded Dask cluster that trains and evaluates the runs; "
                              "1: in this process, serially (default %(default_workers)s)")
    p.add_argument("--compare", default=None, metavar="LEDGER",
                   help="the results ledger (a results.json, or a built book) the Provenance page compares this build "
                        "with (default: this root's previous build, if any)")
    p.set_defaults(func=cmd_book)

    add_results_commands(sub)

    p = sub.add_parser("pdf", help="one PDF of the whole book (from the book `vae-mnist book` built): "
                                   "_build/pdf/book.pdf")
    p.add_argument("--root", default=None, help="book root (default: the project)")
    p.add_argument("--output", "-o", default=None, help="PDF file to write (default <root>/_build/pdf/book.pdf)")
    p.add_argument("--html-url", default=None,
                   help="address of the published HTML book, for the links under the interactive widgets' stills "
                        "(default html.baseurl of _config.yml, else the GitHub Pages address of repository.url)")
    p.set_defaults(func=cmd_pdf)

    p = sub.add_parser("sweep", help="train and evaluate a grid of configurations (what the cache lacks), "
                                     "on a Dask cluster; print a table")
    p.add_argument("--latent-dims", required=True, metavar="LIST", help="latent sizes, e.g. 2,5,10 or 2-5")
    p.add_argument("--seeds", default="0", metavar="LIST", help="seeds, e.g. 0-2 or 0,3 (default 0)")
    for name, choices in (("likelihood", LIKELIHOODS), ("dataset", DATASETS), ("binarize", BINARIZATIONS),
                          ("reconstruction", RECONSTRUCTIONS)):
        p.add_argument(f"--{name}", default=DEFAULTS[name], metavar="LIST",
                       help=f"{', '.join(choices[:-1])} or {choices[-1]}, or several (comma; default {DEFAULTS[name]})")
    add_training_arguments(p)
    p.add_argument("--iwae-k", type=non_negative_int, default=None,
                   help="k of the IWAE bound (default the book's: 1000, 5000 for binarized runs; 0: none)")
    p.add_argument("--data-dir", type=existing_dir, default=None)
    _add_cluster_arguments(p, "worker processes of the embedded Dask cluster that trains and evaluates the runs; "
                              "1: in this process, serially (default %(default_workers)s)")
    p.add_argument("--pages", action="store_true", help="also execute each run's page (as `vae-mnist run`)")
    p.add_argument("--output-dir", default=None, help="where --pages writes (default book/runs)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON list on stdout")
    p.set_defaults(func=cmd_sweep)
    return parser


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # this process is ours: TensorFlow's C++ logging at warnings and above, if a command starts it
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # SIGTERM (kill, a CI timeout, a cluster's scheduler) unwinds like Ctrl-C: temporary folders are
    # removed by the code that made them, and the exit status is 128 + 15.
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (main() called from a worker thread)
        pass
    try:
        return args.func(args)
    except (VaeMnistError, ConfigError) as exc:
        print(f"vae-mnist: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("vae-mnist: terminated by SIGTERM (nothing half-finished was kept in the run cache)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("vae-mnist: interrupted (nothing half-finished was kept in the run cache)", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless asked
        if settings.debug():
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"vae-mnist: error: {type(exc).__name__}: {first} (set VAE_MNIST_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
