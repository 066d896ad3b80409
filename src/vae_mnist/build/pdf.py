"""The whole book as one PDF: the single-page HTML build, printed by Chromium.

``vae-mnist pdf`` (and ``make pdf``) call :func:`build_pdf` on a book that ``vae-mnist book`` has
built. Two steps:

1. ``jupyter-book build --builder singlehtml``: every chapter and run page in one HTML file,
   ``_build/singlehtml/index.html``, with the HTML build's section and figure numbers, equations,
   citations and bibliography. It reuses the HTML build's Sphinx environment and execution cache,
   so nothing is executed again.
2. Chromium (Debian's, as the browser test uses; ``$VAE_MNIST_CHROMIUM`` for another) opens that
   file offline, waits for every image and for the book's own MathJax to typeset every equation
   and load its fonts, and prints it with Playwright's ``page.pdf()`` to ``_build/pdf/book.pdf``
   (A4, page numbers in the footer, PDF outline from the headings).

Why this route and not Jupyter Book's own: ``--builder pdfhtml`` prints with a browser that
Playwright (or, in older releases, pyppeteer) downloads, which needs the internet at build time, and it writes
its single page into ``_build/html``, over the HTML book; ``--builder pdflatex`` needs about 1 GB of
TeX Live packages and rewrites what the HTML build shows (glued figures, MathJax-only macros) for
LaTeX. Printing the HTML keeps one rendering of every page: what the reader sees on screen is what
is printed.

The book's interactive explorers (``vae_mnist.widgets.explorer``) print as a still (the widget as it
opens) with a line linking to the same widget in the HTML book (``static/css/vae-book.css`` has the
print rules; this module points the link at ``html_url``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import VaeMnistError
from ..progress import reporter
from .. import settings

PDF_DIR = "pdf"
PDF_NAME = "book.pdf"
#: The single page as printed: ``_build/singlehtml/print.html``.
PRINT_PAGE = "print.html"
ENV_CHROMIUM = settings.CHROMIUM
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Paper size and margins of the PDF (the footer with the page number sits in the bottom margin).
PAGE_FORMAT = "A4"
MARGINS = {"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"}
#: Print scale: 0.9 gives a text column of about 200 mm CSS width on A4, where the book's widest display
#: equations fit (at 1.0 some were cut at the right margin).
SCALE = 0.9
FOOTER = ("<div style='font-size:8px; width:100%; text-align:center; color:#555;'>"
          "<span class='pageNumber'></span> / <span class='totalPages'></span></div>")
#: How long Chromium may take to load the single page, typeset its equations and print it.
TIMEOUT_MS = 600_000


def column_px() -> int:
    """CSS pixels across the printed page inside the margins, at :data:`SCALE` (A4: 210 mm wide)."""
    width_mm = 210 - sum(float(MARGINS[k].removesuffix("mm")) for k in ("left", "right"))
    return round(width_mm / 25.4 * 96 / SCALE)


@dataclass
class PdfResult:
    path: Path
    pages: int
    nbytes: int
    seconds_html: float
    seconds_print: float
    widgets: int


def chromium_path() -> Path:
    path = Path(settings.text(ENV_CHROMIUM) or DEFAULT_CHROMIUM)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise VaeMnistError(f"no Chromium at {path}: run scripts/ensure-browser.sh .venv (make pdf does), "
                            f"or set {ENV_CHROMIUM} to a Chromium-based browser")
    return path


def html_base_url(root: Path) -> Optional[str]:
    """Where the HTML book is published: ``html.baseurl`` of ``_config.yml``, else the GitHub Pages
    address of ``repository.url`` (``https://github.com/OWNER/NAME`` -> ``https://OWNER.github.io/NAME/``)."""
    import yaml

    try:
        cfg = yaml.safe_load((Path(root) / "_config.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    base = ((cfg.get("html") or {}).get("baseurl") or "").strip()
    if base:
        return base if base.endswith("/") else base + "/"
    m = re.match(r"https?://github\.com/([^/]+)/([^/#?]+?)(?:\.git)?/?$", str((cfg.get("repository") or {}).get("url", "")))
    if m:
        return f"https://{m.group(1).lower()}.github.io/{m.group(2)}/"
    return None


def single_page(root: Path) -> Path:
    """The single-page build's one page: ``_build/singlehtml/<root of _toc.yml>.html`` (its ``index.html``
    only redirects there)."""
    import yaml

    try:
        toc_root = (yaml.safe_load((Path(root) / "_toc.yml").read_text()) or {}).get("root", "index")
    except (OSError, yaml.YAMLError) as exc:
        raise VaeMnistError(f"cannot read {Path(root) / '_toc.yml'}: {exc}") from None
    return Path(root) / "_build" / "singlehtml" / (str(toc_root).removesuffix(".md") + ".html")


def _check_built(root: Path) -> None:
    from .page_stamps import STAMP_FILE
    from ..version import source_hash

    build = root / "_build"
    if not (build / "html" / "index.html").is_file():
        raise VaeMnistError(f"no built book in {build / 'html'}: build it first (make book, or vae-mnist book)")
    try:
        stamp = json.loads((build / STAMP_FILE).read_text())
    except (OSError, ValueError):
        stamp = {}
    if stamp.get("src") and stamp["src"] != source_hash():
        raise VaeMnistError(f"the book in {build / 'html'} was built from other vae_mnist sources than these: "
                            "rebuild it first (make book), so that the PDF says what the HTML says")
    if stamp.get("profile"):  # a chapter the execution cache lacks runs with the book's own profile
        os.environ.setdefault(settings.PROFILE, str(stamp["profile"]))
        os.environ.setdefault(settings.SEEDS, str(stamp.get("seeds", 1)))


# Run in the page before printing: wait for images (loading them if lazy), MathJax and its fonts.
_WAIT_JS = """async () => {
    for (const img of document.images) { img.loading = 'eager'; }
    await Promise.all(Array.from(document.images).map(img => img.complete ? null :
        new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
        await window.MathJax.startup.promise;
    }
    await document.fonts.ready;
    const bad = Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute('src'));
    const untypeset = Array.from(document.querySelectorAll('.math'))
        .filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.trim().slice(0, 60));
    return {images: document.images.length, bad: bad, math: document.querySelectorAll('.math').length,
            untypeset: untypeset, mathjax: !!(window.MathJax && window.MathJax.version)};
}"""

# Display equations wider than the printed column (MathJax does not break lines): scaled down to fit,
# measured at the column's width (the viewport is set to it). Returns how many were scaled.
_FIT_MATH_JS = """() => {
    let n = 0;
    for (const m of document.querySelectorAll('mjx-container[display="true"]')) {
        const w = m.clientWidth, s = m.scrollWidth;
        if (w > 0 && s > w + 1) {
            m.style.fontSize = (parseFloat(getComputedStyle(m).fontSize) * 0.98 * w / s).toFixed(2) + 'px';
            n += 1;
        }
    }
    return n;
}"""

# Each explorer's print line links to the same widget in the published HTML book: its page is the
# document the widget sits in (the singlehtml builder marks each with <span id="document-NAME">).
_WIDGET_LINKS_JS = """(base) => {
    const marks = Array.from(document.querySelectorAll('span[id^="document-"]'));
    const widgets = Array.from(document.querySelectorAll('.vae-explorer'));
    for (const w of widgets) {
        let doc = null;
        for (const m of marks) {
            if (m.compareDocumentPosition(w) & Node.DOCUMENT_POSITION_FOLLOWING) { doc = m.id.slice(9); }
        }
        const a = w.querySelector('a.vae-explorer-html-link');
        if (!a || !doc) { continue; }
        const url = (base || '') + doc + '.html#' + w.id;
        a.href = url; a.textContent = url;
    }
    return widgets.length;
}"""


def print_pdf(html_file: Path, pdf_file: Path, html_url: Optional[str] = None, progress=print) -> int:
    """Print one HTML file to ``pdf_file`` with Chromium, offline; returns the number of widgets linked."""
    from playwright.sync_api import sync_playwright

    say = reporter(progress)
    chromium = chromium_path()
    html_file = Path(html_file).resolve()
    pdf_file = Path(pdf_file)
    blocked = []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:  # the book is offline; a request to another host is a bug, never a dependency
            blocked.append(r.request.url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": column_px(), "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", route)
            page.emulate_media(media="print", color_scheme="light")
            page.goto(html_file.as_uri(), wait_until="load", timeout=TIMEOUT_MS)
            facts = page.evaluate(_WAIT_JS)
            if facts["bad"]:
                raise VaeMnistError(f"{len(facts['bad'])} image(s) of {html_file} did not load, "
                                    f"e.g. {facts['bad'][0]}")
            if facts["math"] and not facts["mathjax"]:
                raise VaeMnistError(f"{html_file} has {facts['math']} equations but MathJax did not load")
            if facts["untypeset"]:
                raise VaeMnistError(f"{len(facts['untypeset'])} equation(s) not typeset, e.g. {facts['untypeset'][0]!r}")
            widgets = page.evaluate(_WIDGET_LINKS_JS, html_url)
            fitted = page.evaluate(_FIT_MATH_JS)
            say(f"printing {html_file.name}: {facts['images']} images, {facts['math']} equations "
                f"({fitted} scaled down to the column), {widgets} interactive widget(s) as stills")
            tmp = pdf_file.with_name(pdf_file.name + ".part")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(tmp), format=PAGE_FORMAT, margin=MARGINS, print_background=True, scale=SCALE,
                     display_header_footer=True, header_template="<span></span>", footer_template=FOOTER,
                     outline=True, tagged=True)
        finally:
            browser.close()
    if blocked:
        tmp.unlink(missing_ok=True)
        raise VaeMnistError(f"the page asked for {len(blocked)} file(s) on another host, e.g. {blocked[0]}")
    os.replace(tmp, pdf_file)  # a failed print never leaves a half-written book.pdf
    return widgets


def build_pdf(root=None, output=None, html_url: Optional[str] = None, progress=print) -> PdfResult:
    """``<root>/_build/pdf/book.pdf`` (or ``output``) from the book that ``vae-mnist book`` built."""
    from .html_book import run_jupyter_book
    from .pages import book_root

    say = reporter(progress)
    root = book_root(root)
    _check_built(root)
    chromium_path()  # before the single-page build, not after it
    out = Path(output) if output is not None else root / "_build" / PDF_DIR / PDF_NAME
    base = html_url if html_url is not None else html_base_url(root)
    if base and not base.endswith("/"):
        base += "/"
    t0 = time.perf_counter()
    code = run_jupyter_book(root, builder="singlehtml", say=say)
    single = single_page(root)
    if code != 0 or not single.is_file():
        raise VaeMnistError(f"the single-page HTML build failed (exit {code}); see the messages above")
    # Sphinx writes the page's links (images, _static) relative to the build folder, not to the page's
    # own folder (book/): a copy at the top is the page as those links expect it
    page = root / "_build" / "singlehtml" / PRINT_PAGE
    shutil.copyfile(single, page)
    t1 = time.perf_counter()
    widgets = print_pdf(page, out, html_url=base, progress=say)
    t2 = time.perf_counter()
    try:
        from pypdf import PdfReader  # the test extra (make venv installs it)

        pages = len(PdfReader(str(out)).pages)
    except ImportError:  # pragma: no cover
        pages = 0
    result = PdfResult(path=out, pages=pages, nbytes=out.stat().st_size, seconds_html=t1 - t0,
                       seconds_print=t2 - t1, widgets=widgets)
    say(f"PDF: {out} ({pages or '?'} pages, {result.nbytes / 1e6:.1f} MB) in {t2 - t0:.0f}s "
        f"(single-page HTML {t1 - t0:.0f}s, printing {t2 - t1:.0f}s)")
    return result
