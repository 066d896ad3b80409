"""Session fixtures shared by the book tests (and the browser test), and the test tiers.

``smoke_book`` builds the whole book ONCE per test run, in the ``smoke`` profile (1 epoch on
2,000 training / 500 test images), in a temporary copy of the book with a private run cache, by the
same command a reader uses (``vae-mnist book``). Tests that need the built HTML take it from there.
Under pytest-xdist (``make test`` runs ``-n auto``) the build is shared by every worker: the first
one to ask builds it under a file lock in the run's common temporary folder, the others wait and
read it (and ``--dist loadgroup`` keeps the tests that read it on one worker anyway).

Tiers: a test that needs the smoke book is marked ``slow`` here; modules that train many models,
start clusters, execute notebooks or drive the browser mark themselves ``slow``. ``make test-quick``
(``pytest -m "not slow"``) runs the rest.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import ROOT, SmokeBook, build_smoke_book, data_env, run_readme_papermill  # noqa: F401


SMOKE_FIXTURES = frozenset({"smoke_book", "smoke_book_html"})
SMOKE_GROUP = "smoke-book"


def needs_smoke_book(item) -> bool:
    """A test that reads the smoke book: through its fixtures, or marked ``smoke_book`` (a module whose
    fixture asks for it with ``request.getfixturevalue``, which the fixture closure cannot see)."""
    return bool(SMOKE_FIXTURES & set(getattr(item, "fixturenames", ()))) or item.get_closest_marker("smoke_book") is not None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which writes each item's group into its id
def pytest_collection_modifyitems(config, items):
    """Mark the smoke book's tests ``slow`` and put them in one xdist group, first; every other test in
    its module's group (module fixtures, such as a trained model, are then made once, on one worker)."""
    for item in items:
        if needs_smoke_book(item):
            item.add_marker(pytest.mark.slow)
            group = SMOKE_GROUP
        else:
            mark = item.get_closest_marker("xdist_group")
            group = mark.args[0] if mark and mark.args else (item.module.__name__ if item.module else item.nodeid)
        item.add_marker(pytest.mark.xdist_group(group))
    # the longest piece of work starts first (make test keeps the order set here: --no-loadscope-reorder); then
    # the groups with the most slow tests (clusters, kernels, trainings in subprocesses), which take the other
    # worker about as long as the smoke book takes its own; then the modules that ask for the smoke book by
    # name without being in its group (test_browser, test_pdf: groups of their own, which either worker can
    # take), when the book is about built; the small quick groups last, to even out the two workers at the end
    # (with the browser test last, it ran alone for its last half minute while the other core idled)
    slow = {}
    for item in items:
        group = item.get_closest_marker("xdist_group").args[0]
        slow[group] = slow.get(group, 0) + (item.get_closest_marker("slow") is not None)

    def order(item):
        if needs_smoke_book(item):
            return (0, 0)
        if item.get_closest_marker("after_smoke_book"):
            return (2, 0)
        n = slow[item.get_closest_marker("xdist_group").args[0]]
        return (1, -n) if n else (3, 0)

    items.sort(key=order)


def _shared_temp(tmp_path_factory) -> Path:
    """This test run's temporary folder that every xdist worker sees (the workers' own are inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> SmokeBook:
    from vae_mnist.build.html_book import copy_book
    from vae_mnist.store.entries import entry_lock

    base = _shared_temp(tmp_path_factory) / "smoke-book"
    result = base / "result.json"
    with entry_lock(base):  # one build per test run, whichever worker asks first
        if result.is_file():
            done = json.loads(result.read_text())
            return SmokeBook(root=Path(done["root"]), html=Path(done["root"]) / "_build" / "html",
                             cache_dir=Path(done["cache"]), log=Path(done["log"]), returncode=done["returncode"],
                             seconds=done["seconds"], env=done["env"])
        base.mkdir(parents=True, exist_ok=True)
        root = copy_book(base / "root", ROOT)
        cache = base / "runs-cache"
        env = data_env()
        env.update(VAE_MNIST_CACHE_DIR=str(cache), VAE_MNIST_PROFILE="smoke", VAE_MNIST_SEEDS="1")
        env.pop("PYTEST_XDIST_WORKER", None)
        log = base / "build.log"
        # a reader's rerun by the README's raw papermill command, before the build that must show it
        run_readme_papermill(root, env, base / "papermill.log")
        code, seconds = build_smoke_book(root, env, log)
        result.write_text(json.dumps({"root": str(root), "cache": str(cache), "log": str(log), "returncode": code,
                                      "seconds": seconds, "env": env}))
    return SmokeBook(root=root, html=root / "_build" / "html", cache_dir=cache, log=log, returncode=code,
                     seconds=seconds, env=env)


@pytest.fixture(scope="session")
def smoke_book_html(smoke_book) -> Path:
    """The built smoke book's HTML folder (fails the test if the build failed)."""
    if smoke_book.returncode != 0:
        pytest.fail(f"the smoke book build failed (exit {smoke_book.returncode}); "
                    f"last lines:\n{smoke_book.output()[-4000:]}")
    return smoke_book.html
