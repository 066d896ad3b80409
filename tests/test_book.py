"""The smoke build of the whole book: every chapter, run page and paper figure is there, no cell erred,
and a rebuild with nothing changed retrains nothing and is quick."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import ROOT, build_smoke_book

PAPER_FIGURES = range(1, 8)


def toc_files(toc_path: Path) -> list:
    """Every ``file:`` entry of a jupyter-book TOC, in order."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    out.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    toc = yaml.safe_load(toc_path.read_text())
    out.append(toc["root"])
    walk({k: v for k, v in toc.items() if k != "root"})
    return list(dict.fromkeys(out))


class _FigureFinder(HTMLParser):
    """Collects, for each element with an id, the <img> sources inside it and its text."""

    def __init__(self):
        super().__init__()
        self.stack = []      # (tag, id)
        self.found = {}      # id -> {"imgs": [...], "text": str}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            for _, ident in self.stack:
                if ident:
                    self.found[ident]["imgs"].append(attrs.get("src"))
            return
        if tag in ("br", "hr", "meta", "link", "input", "source"):
            return
        ident = attrs.get("id")
        if ident:
            self.found.setdefault(ident, {"imgs": [], "text": ""})
        self.stack.append((tag, ident))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for _, ident in self.stack:
            if ident:
                self.found[ident]["text"] += data


def html_pages(html: Path):
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


def test_build_succeeded(smoke_book):
    assert smoke_book.returncode == 0, smoke_book.output()[-4000:]
    assert "build finished" in smoke_book.output()
    assert (smoke_book.html / "index.html").is_file()


def test_terminal_shows_progress_not_known_notices(smoke_book):
    """The build's terminal: its own progress, not the kernels' transport notice nor TF's retracing notice."""
    out = smoke_book.output()
    assert "executing run page" in out and "reading sources" in out  # progress is still there
    assert "without encryption" not in out, "a kernel's start-up notice reached the terminal"
    assert "triggered tf.function retracing" not in out


def test_every_chapter_is_in_the_html(smoke_book_html):
    files = [f for f in toc_files(ROOT / "_toc.yml")]
    assert len(files) >= 9, files  # introduction + 7 chapters + run index (+ back matter)
    for f in files:
        page = smoke_book_html / f"{f}.html"
        assert page.is_file(), f"chapter {f} missing from the HTML"
        assert "<h1" in page.read_text(), f"{page} has no title"
    for chapter in ("intro", "model", "loss", "training", "latent2d", "samples", "results", "rerunning"):
        assert f"book/{chapter}" in files, f"chapter {chapter} not in the TOC"


def test_every_run_page_is_in_the_html(smoke_book, smoke_book_html):
    from vae_mnist.profiles import book_runs
    from vae_mnist.build.pages import page_name, run_title

    configs = book_runs("smoke", 1)
    assert {c.latent_dim for c in configs} >= {2, 10, 20}
    index = (smoke_book_html / "book" / "runs" / "index.html").read_text()
    for config in configs:
        page = smoke_book_html / "book" / "runs" / f"{page_name(config)}.html"
        assert page.is_file(), f"run page for {config.name()} missing"
        text = page.read_text()
        assert "Parameters of this run" in text
        assert "# Parameters" not in text, "papermill's raw injected cell is visible"
        assert run_title(config).split(" (")[0] in text
        assert f"{page_name(config)}.html" in index, "run page not listed under the run index"
        assert text.count("<img") >= (4 if config.latent_dim == 2 else 2)


@pytest.mark.parametrize("n", PAPER_FIGURES)
def test_paper_figure_present_with_a_real_image(smoke_book_html, n):
    import matplotlib.image as mpimg

    anchor = f"fig-paper-{n}"
    hits = []
    for page in html_pages(smoke_book_html):
        text = page.read_text()
        if f'id="{anchor}"' not in text:
            continue
        finder = _FigureFinder()
        finder.feed(text)
        hits.append((page, finder.found[anchor]))
    assert len(hits) == 1, f"anchor {anchor} found on {len(hits)} pages"
    page, fig = hits[0]
    assert fig["imgs"], f"{anchor} on {page.name} has no <img>"
    assert re.search(rf"\bFigure {n}\b", fig["text"]), f"caption of {anchor} does not name paper Figure {n}"
    src = (page.parent / fig["imgs"][0]).resolve()
    assert src.is_file(), f"{anchor}: image {src} does not exist"
    pixels = np.asarray(mpimg.imread(src), dtype=float)
    assert pixels.ndim >= 2 and min(pixels.shape[:2]) >= 100, pixels.shape
    assert pixels[..., :3].std() > 0.01, f"{anchor}: image is blank"


def test_no_cell_errored(smoke_book_html):
    assert not (smoke_book_html / "reports").exists(), "execution failure reports were written"
    for page in html_pages(smoke_book_html):
        text = page.read_text()
        assert "Traceback (most recent call last)" not in text, f"traceback in {page}"
        assert 'class="output traceback' not in text and 'class="output error' not in text, f"error in {page}"
        assert 'class="output stderr' not in text, f"stderr output (e.g. TensorFlow noise) in {page}"


def test_numbers_in_prose_come_from_glue(smoke_book_html):
    # Glued values render as text; an unresolved glue key would leave the role in the page.
    for page in html_pages(smoke_book_html):
        text = page.read_text()
        assert "{glue:" not in text and "glue:text" not in text, f"unresolved glue in {page}"


def test_rebuild_with_nothing_changed_retrains_nothing_and_is_quick(smoke_book, smoke_book_html):
    log = smoke_book.log.with_name("rebuild.log")
    code, _seconds = build_smoke_book(smoke_book.root, smoke_book.env, log)  # timings stay out of pass/fail
    out = log.read_text(errors="replace")
    assert code == 0, out[-4000:]
    assert "training " not in out and "epoch " not in out, "a rebuild retrained a model"
    assert "executing run page" not in out, "a rebuild re-executed a run page"
    assert "execution cache dropped" not in out
    assert re.search(r"Executing: |Executing notebook", out) is None, "a rebuild re-executed a chapter"
    # the rebuild compared itself with the build before it: its Provenance page says nothing moved
    assert "nothing changed since the previous build" in out, out[-2000:]
    page = (smoke_book_html / "book" / "provenance.html").read_text()
    assert "No result changed between that build and this one" in page


def test_source_change_drops_the_execution_cache(tmp_path):
    from vae_mnist.build.page_stamps import STAMP_FILE, invalidate_execution_cache

    build = tmp_path / "_build"
    (build / ".jupyter_cache").mkdir(parents=True)
    (build / ".doctrees").mkdir()
    stamp = {"src": "a", "profile": "smoke", "seeds": 1}
    (build / STAMP_FILE).write_text(json.dumps(stamp))
    messages = []
    assert invalidate_execution_cache(tmp_path, stamp, messages.append) is False
    assert (build / ".jupyter_cache").is_dir()
    assert invalidate_execution_cache(tmp_path, dict(stamp, src="b"), messages.append) is True
    assert not (build / ".jupyter_cache").exists() and not (build / ".doctrees").exists()
    assert "src changed" in messages[-1]


def test_run_stamp_sees_package_template_and_parameters(tmp_path, monkeypatch):
    from vae_mnist.build import page_stamps as build

    template = tmp_path / "run.md"
    template.write_text("a")
    base = build.run_stamp(template, {"latent_dim": 2}, "smoke")
    assert build.run_stamp(template, {"latent_dim": 2}, "smoke") == base
    assert build.run_stamp(template, {"latent_dim": 3}, "smoke") != base
    assert build.run_stamp(template, {"latent_dim": 2}, "full") != base
    template.write_text("b")
    assert build.run_stamp(template, {"latent_dim": 2}, "smoke") != base
    template.write_text("a")
    monkeypatch.setattr(build, "source_hash", lambda: "changed")
    assert build.run_stamp(template, {"latent_dim": 2}, "smoke") != base


def test_book_configs_full_profile_are_the_papers():
    from vae_mnist import RunConfig
    from vae_mnist.profiles import book_config, book_runs

    for z in (2, 10, 20):
        assert book_config(z, "full") == RunConfig(latent_dim=z)
    smoke = book_config(20, "smoke")
    assert (smoke.epochs, smoke.train_subset, smoke.test_subset) == (1, 2000, 500)
    full = book_runs("full", 1)
    assert [c.latent_dim for c in full][:3] == [2, 10, 20]
    # three seeds of the paper's z = 2 model (the mean-reconstruction z = 2 run is one seed only)
    paper_z2 = [c for c in book_runs("full", 3) if c.latent_dim == 2 and c == RunConfig(latent_dim=2, seed=c.seed)]
    assert sorted(c.seed for c in paper_z2) == [0, 1, 2]


def test_readme_papermill_route_gives_pages_the_strict_build_shows(smoke_book, smoke_book_html):
    """The README's raw papermill command (from the book's root, and with --cwd) writes pages the next build shows,
    with their four download links pointing at files Sphinx copied into the book."""
    from helpers import README_PAGES
    from vae_mnist.build.pages import RUN_DOWNLOADS

    for name in README_PAGES:
        page = smoke_book_html / "book" / "runs" / f"{name}.html"
        assert page.is_file(), f"the README's papermill page {name} is not in the built book"
        links = re.findall(r'<a class="reference download internal" download="" href="([^"]+)"', page.read_text())
        assert len(links) == len(RUN_DOWNLOADS), links
        for href in links:
            assert (page.parent / href).resolve().is_file(), f"{name}: download link {href} leads nowhere"
