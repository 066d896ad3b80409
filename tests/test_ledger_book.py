"""The results ledger of real smoke builds of the whole book: complete, empty diff between two builds of one
run cache, and a diff that names exactly what one reseeded run moved.

The builds here are extra smoke builds (fresh roots, the smoke book's run cache or a copy of it), by the same
command a reader uses; the ledger's reading and diffing on small books is tested in ``tests/test_ledger.py``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT, build_smoke_book, run_readme_papermill, vae_mnist_command

pytestmark = [pytest.mark.slow, pytest.mark.after_smoke_book]

GLUE_CALL = re.compile(r"""\bglue\(\s*(f?)(["'])(.+?)\2""")


def glued_names(source: str):
    """The names a chapter's cells glue, as patterns (an f-string name ``conf_z{z}`` matches ``conf_z2``)."""
    for f, _, name in GLUE_CALL.findall(source):
        yield re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(name)) if f else re.escape(name))


def test_the_smoke_ledger_has_every_glued_name_of_every_chapter(smoke_book_html, smoke_book):
    ledger = json.loads((smoke_book.root / "_build" / "results.json").read_text())
    assert (smoke_book_html / "results.json").read_text() == (smoke_book.root / "_build" / "results.json").read_text()
    chapters = sorted(p for p in (ROOT / "book").rglob("*.md") if "templates" not in p.parts and "runs" not in p.parts)
    missing, counted = [], 0
    for path in chapters:
        chapter = path.relative_to(ROOT).with_suffix("").as_posix()
        names = [k.split(":", 1)[1] for k in list(ledger["glue"]) + list(ledger["figures"]) if k.startswith(chapter + ":")]
        for pattern in glued_names(path.read_text()):
            counted += 1
            if not any(pattern.fullmatch(n) for n in names):
                missing.append(f"{chapter}: {pattern.pattern}")
    assert counted > 300 and not missing, missing
    from vae_mnist.profiles import book_runs

    assert sorted(ledger["runs"]) == sorted(c.name() for c in book_runs("smoke", 1))
    run = next(iter(ledger["runs"].values()))
    assert run["code_hash"] and run["software"]["tensorflow"] and "test_neg_elbo" in run["metrics"]
    assert ledger["lock"] is None or len(ledger["lock"]) == 64   # the smoke root is a copy without the lock
    # the Provenance page lists the runs from the ledger
    page = (smoke_book_html / "book" / "provenance.html").read_text()
    assert all(name in page for name in ledger["runs"])


def diff(old, new, *args) -> subprocess.CompletedProcess:
    return subprocess.run(vae_mnist_command() + ["diff", str(old), str(new), *args], capture_output=True, text=True,
                          timeout=300)


def test_two_builds_of_one_cache_diff_empty_and_a_reseeded_run_moves_only_what_shows_it(smoke_book, smoke_book_html,
                                                                                         tmp_path):
    from vae_mnist.build.html_book import copy_book
    from vae_mnist.build.ledger import load_ledger
    from vae_mnist.build.results_diff import diff_ledgers
    from vae_mnist.build.pages import page_name
    from vae_mnist.profiles import fashion_config

    # (1) the smoke book's models exported as one archive and imported into an empty cache; a second build, in a
    # fresh root, on that cache (the same entries, file for file): it trains nothing and nothing may move
    archive, imported = tmp_path / "models.tar.gz", tmp_path / "imported"
    env = dict(smoke_book.env, VAE_MNIST_CACHE_DIR=str(smoke_book.cache_dir))
    subprocess.run(vae_mnist_command() + ["export", "--profile", "smoke", "--seeds", "1", "-o", str(archive)],
                   env=env, check=True, timeout=600, capture_output=True)
    env = dict(smoke_book.env, VAE_MNIST_CACHE_DIR=str(imported))
    done = subprocess.run(vae_mnist_command() + ["import", str(archive)], env=env, timeout=600, capture_output=True,
                          text=True)
    assert done.returncode == 0 and "entries installed" in done.stdout, done.stdout + done.stderr
    second = copy_book(tmp_path / "second", ROOT)
    # the pages a reader adds with papermill (the README's route) are part of the smoke book: added here the same way
    run_readme_papermill(second, env, tmp_path / "second-papermill.log")
    code, _ = build_smoke_book(second, env, tmp_path / "second.log")
    log = (tmp_path / "second.log").read_text(errors="replace")
    assert code == 0, log[-4000:]
    assert "training " not in log and "epoch " not in log, "a build on the imported archive trained a model"
    same = diff(smoke_book.root, second)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "No result changed" in same.stdout

    # (2) the Fashion-MNIST run retrained with seed 1 in its folder (a copy of the cache), then a third build
    cache = tmp_path / "cache"
    shutil.copytree(imported, cache)
    config = fashion_config("smoke")
    env = dict(smoke_book.env, VAE_MNIST_CACHE_DIR=str(cache))
    # train the seed-1 run, move its files (all but config.json) into the seed-0 run's folder, and evaluate its
    # saved test numbers with the folder's own seed, as that run's training does (its page checks them)
    subprocess.run([sys.executable, "-c", RESEED], env=env, check=True, timeout=600, capture_output=True)
    third = copy_book(tmp_path / "third", ROOT)
    run_readme_papermill(third, env, tmp_path / "third-papermill.log")
    # compared with the second build: its Provenance page (a strict build) shows the difference
    code, _ = build_smoke_book(third, env, tmp_path / "third.log", "--compare", str(second))
    assert code == 0, (tmp_path / "third.log").read_text(errors="replace")[-4000:]

    moved = diff(second, third)
    assert moved.returncode == 1, moved.stdout + moved.stderr
    d = diff_ledgers(load_ledger(second), load_ledger(third))
    assert [c["name"] for c in d.runs_changed] == [config.name()] and not d.runs_added and not d.runs_removed
    assert "retrained" in d.runs_changed[0]["what"][0] and "test_neg_elbo" in d.runs_changed[0]["metrics"]
    page = f"book/runs/{page_name(config)}"
    chapters = set(d.chapters())
    assert {"book/beyond/fashion", page} <= chapters, chapters          # where that run is shown...
    # ...and where its bound's timing enters: the likelihood chapter's fastest bound (a row per run with an
    # IWAE bound, this one included) and the seeds chapter's minutes of bounds; nothing else anywhere
    timing = {"book/beyond/likelihood:iwae_sec_min", "book/beyond/likelihood:iwae_sec_max",
              "book/beyond/likelihood:iwae_gflops", "book/beyond/seeds:extra_minutes"}
    elsewhere = {c["key"] for c in d.numbers + d.words + d.figures} - {
        c["key"] for c in d.numbers + d.words + d.figures if c["key"].split(":")[0] in ("book/beyond/fashion", page)}
    assert elsewhere <= timing, elsewhere
    assert not d.glue_added and not d.glue_removed and not d.figures_added and not d.figures_removed
    assert any(c["key"].startswith("book/beyond/fashion:") for c in d.numbers)
    assert any(c["key"].startswith("book/beyond/fashion:") for c in d.figures)
    assert any(c["key"].startswith(page + ":") for c in d.figures)
    assert config.name() in moved.stdout and "book/beyond/fashion:" in moved.stdout
    provenance = (third / "_build" / "provenance.md").read_text()
    assert "Compared with " + str(second) in provenance and config.name() in provenance and "### Runs" in provenance
    page = (third / "_build" / "html" / "book" / "provenance.html").read_text()
    assert config.name() in page and "retrained" in page


RESEED = """
import dataclasses, shutil
from vae_mnist.core.evaluation import negative_elbo
from vae_mnist.profiles import fashion_config
from vae_mnist.store.runs import Run, get_run, load_data_for, run_path

config = fashion_config("smoke")
other = get_run(dataclasses.replace(config, seed=1), progress=None).path
folder = run_path(config)
for f in folder.iterdir():
    if f.is_file() and f.name != "config.json":
        f.unlink()
for f in other.iterdir():
    if f.is_file() and f.name != "config.json":
        shutil.copy2(f, folder / f.name)
shutil.rmtree(other)
run = Run(folder)
check = negative_elbo(run.model, load_data_for(run.config).x_test, seed=run.config.seed)
run.update_metrics(test_neg_elbo=check["neg_elbo"], test_reconstruction=check["reconstruction"], test_kl=check["kl"])
"""
