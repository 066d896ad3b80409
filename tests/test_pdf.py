"""`vae-mnist pdf` on the smoke book: one PDF of the whole book, read back with pypdf.

* it has pages for every chapter (each chapter's title in its text), and every font is embedded;
* every figure is in it: each numbered figure's caption number in its text, and at least as many
  images as the single-page HTML shows;
* no markup leaked into its text: no raw TeX (every equation typeset by MathJax before printing),
  no MyST roles or directives such as ``{glue:text}`` or ``{numref}``;
* each interactive widget printed as a still with a line that links to it in the HTML book;
* without a built book it stops with one line, status 2.

``VAE_MNIST_BOOK_ROOT=. pytest tests/test_pdf.py`` runs the same checks on a book built by these
sources (``make book``) instead of building the smoke book.
"""
import os
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from helpers import data_env, vae_mnist_command
from vae_mnist.build.pdf import PRINT_PAGE

import pypdf  # noqa: E402  (a test dependency: pyproject.toml, extra "test")

# Builds a smoke book and prints it in Chromium (about 400 s): not in the quick tier.
# its own xdist group, scheduled after every other module (conftest.py): the smoke book is built by then
pytestmark = [pytest.mark.slow, pytest.mark.after_smoke_book]

HTML_URL = "https://example.org/vae-book/"
BOOK_ROOT_ENV = "VAE_MNIST_BOOK_ROOT"
LEAKS = [r"\{glue", r"\{numref\}", r"\{eq\}", r"\{cite", r"\{ref\}", r"\{doc\}", r"\$\$", r"\\frac", r"\\mathcal",
         r"\\begin\{", r"\\operatorname", r"\\mathbb", r"\\sigma", r"\\mu\b", r":::", r"```", r"<glue", r"\\\("]


@pytest.fixture(scope="module")
def book_root(request):
    """A built book's root: ``$VAE_MNIST_BOOK_ROOT`` if set (built by these sources), else the smoke build."""
    folder = os.environ.get(BOOK_ROOT_ENV)
    if folder:
        root = Path(folder).resolve()
        assert (root / "_build" / "html" / "index.html").is_file(), f"{BOOK_ROOT_ENV}={folder}: no built book there"
        return root, data_env()
    smoke = request.getfixturevalue("smoke_book")
    request.getfixturevalue("smoke_book_html")  # fails the test if the build failed
    return smoke.root, smoke.env


@pytest.fixture(scope="module")
def built_pdf(book_root):
    root, env = book_root
    out = root / "_build" / "pdf" / "book.pdf"
    proc = subprocess.run(vae_mnist_command() + ["pdf", "--root", str(root), "--html-url", HTML_URL],
                          env=env, cwd=str(root), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.is_file()
    reader = pypdf.PdfReader(str(out))
    # NFKC: the typeset text has ligatures (U+FB01 for "fi" in "specifies")
    text = unicodedata.normalize("NFKC", "\n".join(page.extract_text() or "" for page in reader.pages))
    single = (root / "_build" / "singlehtml" / PRINT_PAGE).read_text()
    print(f"\n{proc.stdout.strip().splitlines()[-1]}")
    return out, reader, text, single


def _fonts(reader):
    seen = {}
    for page in reader.pages:
        fonts = (page.get("/Resources") or {}).get("/Font") or {}
        for ref in fonts.values():
            font = ref.get_object()
            base = str(font.get("/BaseFont", font.get("/Subtype")))
            parts = [font] + [d.get_object() for d in font.get("/DescendantFonts", [])]
            embedded = font.get("/Subtype") == "/Type3" or any(
                any(k in (p.get("/FontDescriptor") or {}) for k in ("/FontFile", "/FontFile2", "/FontFile3"))
                for p in parts)
            seen[base] = seen.get(base, True) and embedded
    return seen


def test_pdf_has_every_chapter_and_embeds_every_font(built_pdf):
    out, reader, text, single = built_pdf
    # each chapter and run page: a <span id="document-NAME"> mark, then its section with the title as heading
    heads = re.findall(r'<span id="document-[^"]+"></span>\s*<section[^>]*>\s*<h\d[^>]*>(.*?)</h\d>', single, re.S)
    titles = [re.sub(r"<[^>]+>|#|¶", "", t).strip() for t in heads]
    titles = [re.sub(r"\s+", " ", t) for t in titles if t]
    assert len(titles) >= 10, titles
    flat = re.sub(r"\s+", " ", text)
    missing = [t for t in titles if t[:40] not in flat]
    assert not missing, f"chapter titles not in the PDF's text: {missing}"
    assert len(reader.pages) >= len(titles)
    fonts = _fonts(reader)
    assert fonts, "no fonts at all"
    assert all(fonts.values()), f"fonts not embedded: {[f for f, ok in fonts.items() if not ok]}"
    print(f"\n{len(reader.pages)} pages, {out.stat().st_size / 1e6:.1f} MB, {len(titles)} chapters, {len(fonts)} fonts")


def test_pdf_has_every_figure(built_pdf):
    _, reader, text, single = built_pdf
    numbers = re.findall(r'<span class="caption-number">(Fig\. [\d.]+)', single)
    assert numbers, "the single-page HTML has no numbered figures"
    flat = re.sub(r"\s+", " ", text)
    missing = [n for n in numbers if not re.search(re.escape(n) + r"(?![\d])", flat)]
    assert not missing, f"figures whose caption is not in the PDF: {missing}"
    sources = set(re.findall(r'<img[^>]+src="([^"]+)"', single))
    n_images = sum(len(page.images) for page in reader.pages)
    assert n_images >= len(sources), f"{n_images} images in the PDF, {len(sources)} in the HTML"


def test_pdf_text_has_no_markup(built_pdf):
    _, _, text, _ = built_pdf
    leaks = [(p, text[max(0, m.start() - 40):m.end() + 40]) for p in LEAKS for m in [re.search(p, text)] if m]
    assert not leaks, f"markup in the PDF's text: {leaks}"


def test_widgets_print_as_stills_with_a_link(built_pdf):
    _, reader, text, single = built_pdf
    n_widgets = single.count('class="vae-explorer-print"')
    assert n_widgets >= 5, n_widgets  # the 2-D pad and drawing pad, two slider explorers, two drawing pads
    assert re.sub(r"\s+", " ", text).count("Interactive in the HTML version of this book") == n_widgets
    annots = [ref.get_object() for page in reader.pages for ref in (page.get("/Annots") or [])]
    links = [str(a["/A"]["/URI"]) for a in annots if "/A" in a and "/URI" in a["/A"]]
    assert any(u.startswith(HTML_URL + "book/latent2d.html#vae-drawpad-") for u in links), links[:20]
    assert any(u.startswith(HTML_URL + "book/samples.html#") for u in links)


def test_pdf_without_a_built_book_is_one_line(tmp_path):
    from vae_mnist.build.html_book import copy_book

    root = copy_book(tmp_path / "root", Path(__file__).resolve().parent.parent)
    proc = subprocess.run(vae_mnist_command() + ["pdf", "--root", str(root)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vae-mnist: error: no built book"), proc.stderr
    assert not (root / "_build" / "pdf").exists()
