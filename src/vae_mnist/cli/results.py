"""The command line's results commands: ``export`` and ``import`` of the book's models, ``diff`` of two builds.

:func:`add_results_commands` adds them to the ``vae-mnist`` parser (:mod:`vae_mnist.cli.main`).
"""
from __future__ import annotations

from .types import non_negative_float, positive_int
from ..errors import ConfigError, VaeMnistError
from ..profiles import current_profile, current_seeds


def cmd_export(args) -> int:
    profile = current_profile(args.profile)
    seeds = current_seeds(args.seeds)
    from ..store.archive import ARCHIVE_FILE, export_archive
    from ..build.pages import book_root

    output = args.output or (book_root(args.root) / "_build" / "html" / ARCHIVE_FILE)
    export_archive(output, profile=profile, seeds=seeds)
    return 0


def cmd_import(args) -> int:
    from ..store.archive import import_archive

    import_archive(args.archive, force=args.force)
    return 0


def cmd_diff(args) -> int:
    """What changed between two builds: 0 identical, 1 changed, 2 could not compare (like ``diff``)."""
    from ..build import ledger as ledgers
    from ..build import results_diff

    try:
        old, new = ledgers.load_ledger(args.old), ledgers.load_ledger(args.new)
        diff = results_diff.diff_ledgers(old, new, rtol=args.rtol)
        text = results_diff.render(diff, results_diff.ledger_label(old, args.old), results_diff.ledger_label(new, args.new),
                              markdown=args.markdown)
    except (VaeMnistError, ConfigError):
        raise
    except Exception as exc:  # anything else that stops the comparison is still "could not compare"
        raise ledgers.LedgerError(f"could not compare {args.old} with {args.new} ({type(exc).__name__}: {exc})")
    print(text, end="")
    return 0 if diff.empty else 1



def add_results_commands(sub) -> None:
    p = sub.add_parser("export", help="write the book's trained models (every run, classifier and trajectory the "
                                      "book uses, with a checksum manifest) as one archive")
    p.add_argument("--profile", choices=["full", "smoke"], default=None, help="the book's profile (default as `book`)")
    p.add_argument("--seeds", type=positive_int, default=None, help="seeds per headline model (default as `book`)")
    p.add_argument("--root", default=None, help="book root (default: the project)")
    p.add_argument("-o", "--output", default=None,
                   help="archive to write (default <root>/_build/html/models.tar.gz, published beside the book)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="install an archive written by `vae-mnist export` into the run cache "
                                      "(every file checked first); a book built on it then trains nothing")
    p.add_argument("archive", help="a models.tar.gz written by `vae-mnist export`")
    p.add_argument("--force", action="store_true", help="replace entries the cache already has")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("diff", help="what changed between two builds' results (their results.json ledgers, or the "
                                    "built books): exit 0 identical, 1 changed, 2 could not compare")
    p.add_argument("old", help="the earlier build: a results.json, or a built book's folder")
    p.add_argument("new", help="the later build: a results.json, or a built book's folder")
    p.add_argument("--rtol", type=non_negative_float, default=0.0,
                   help="relative tolerance for numbers (default 0: exact, the runs reproduce bit for bit)")
    p.add_argument("--markdown", action="store_true", help="Markdown (for a CI job summary) instead of text")
    p.set_defaults(func=cmd_diff)
