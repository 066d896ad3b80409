"""The built book in a real browser: headless Chromium from Debian's packages, driven by Playwright.

* every HTML page of the smoke book, in the theme's light and dark modes, with every request to
  another host blocked: no such request at all (the book works offline, from disk), no JavaScript
  error in the console, every image loaded (natural size > 0), every equation (``.math``)
  typeset by the book's own MathJax, one visible search field and the book's title once in the
  sidebar; run pages link the run's files (models, configuration, history, metrics), which are in the built book;
* in dark mode every figure is an opaque image (its dark text stays on its own white ground) and
  the explorer's text contrasts with what is behind it (WCAG ratio >= 4.5);
* figures are shown at least ``figures.PAGE_WIDTH_PX`` wide and captions are at most
  ``figures.CAPTION_PX``: the assumptions under which tests/test_figure_text.py checks that every
  figure's smallest text is at least the caption's size on the page;
* on the 2-D latent chapter, moving the mouse over the explorer's pad changes the drawn digit,
  and the digit matches the Keras decoder of the same run: the decoded pixel means within 1e-3,
  the canvas's 8-bit grey levels within rounding of that;
* the z = 10 / z = 20 slider explorers do the same for a keyboard move of a slider;
* every weight format's JavaScript decoding equals the Python reference;
* every page, light and dark, passes axe-core's WCAG 2.1 A and AA rules (the engine vendored by
  scripts/ensure-browser.sh, never fetched here; ``AXE_ALLOWED`` lists what the theme does and this
  project cannot change, with the reason), every image's alternative text says something other than its
  file name and every canvas has a label; the draw pad draws from the keyboard.

`make test` runs scripts/ensure-browser.sh first (apt-get chromium, pip playwright), so the
browser is there on a fresh machine: nothing here is skipped.

Any built book: ``VAE_MNIST_BOOK_HTML=_build/html pytest tests/test_browser.py`` runs the same
checks on that folder instead of building the smoke book (the explorer tests then compare with the
run cache ``VAE_MNIST_CACHE_DIR``, default ``.cache/runs``); ``VAE_MNIST_SCREENSHOTS=DIR`` keeps
the light and dark screenshots of a few pages there (``scripts/check-book.sh`` does both).
"""
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from vae_mnist.widgets import explorer
from vae_mnist import figures
from vae_mnist.build.pages import RUN_DOWNLOADS
from vae_mnist.core.model import build_vae

# the fixture `book` asks for the smoke book by name; the module is a group of its own, scheduled after the
# slow modules and before the quick ones (tests/conftest.py), so either worker takes it once the book is built
pytestmark = [pytest.mark.slow, pytest.mark.after_smoke_book]

CHROMIUM = os.environ.get("VAE_MNIST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOL = explorer.TOLERANCE
# Canvas pixels are 8-bit: round(255 p). A browser value within TOL of Keras's is within
# 255 * TOL + 0.5 grey levels of 255 * p_keras.
CANVAS_TOL = 255 * TOL + 0.5 + 1e-6


BOOK_HTML_ENV = "VAE_MNIST_BOOK_HTML"
SCREENSHOTS_ENV = "VAE_MNIST_SCREENSHOTS"
MIN_CONTRAST = 4.5  # WCAG AA for normal text
AXE_VERSION = "4.10.3"   # scripts/ensure-browser.sh vendors this version into <venv>/share/axe-core
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: axe-core rules whose violations come from the theme and cannot be fixed from this project, with the reason.
#: (Empty: what the first audit found is fixed in vae_mnist.build.sphinx_extension and the widgets.)
AXE_ALLOWED: dict = {}

# images whose alternative text is missing or only a file name, canvases without a label
A11Y_FACTS_JS = """() => ({
  images: Array.from(document.querySelectorAll('main img, article img')).filter(img => {
      const alt = (img.getAttribute('alt') || '').trim();
      return !alt || /\\.(png|svg|jpe?g|gif)$/i.test(alt) || alt.includes('_images/'); })
    .map(img => img.getAttribute('src')),
  canvases: Array.from(document.querySelectorAll('canvas'))
    .filter(c => !(c.getAttribute('aria-label') || '').trim() && !c.getAttribute('aria-labelledby'))
    .map(c => c.className)})"""


def axe_source() -> str:
    path = Path(sys.prefix) / "share" / "axe-core" / AXE_VERSION / "axe.min.js"
    assert path.is_file(), f"{path} missing: run scripts/ensure-browser.sh (make test does)"
    return path.read_text()


def axe_violations(page) -> list:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, one line per rule and node."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    found = page.evaluate("""async (tags) => {
        // preload: false - axe would fetch the page's stylesheets again, which a file:// page may not do (CORS)
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
                                           preload: false});
        return r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.html.slice(0, 120))}));
    }""", AXE_TAGS)
    return [f"axe {v['id']}: {n}" for v in found if v["id"] not in AXE_ALLOWED for n in v["nodes"]]


# --------------------------------------------------------------------------------------
# Browser fixtures
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def book(request):
    """The built book under test: ``$VAE_MNIST_BOOK_HTML`` if set, else the smoke build (built once)."""
    folder = os.environ.get(BOOK_HTML_ENV)
    if folder:
        from vae_mnist.store.entries import cache_dir

        html = Path(folder).resolve()
        assert (html / "index.html").is_file(), f"{BOOK_HTML_ENV}={folder}: no index.html there"
        return SimpleNamespace(html=html, cache_dir=cache_dir())
    smoke = request.getfixturevalue("smoke_book")
    return SimpleNamespace(html=Path(request.getfixturevalue("smoke_book_html")), cache_dir=smoke.cache_dir)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run scripts/ensure-browser.sh (make test does)"
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
        try:
            yield context
        finally:
            context.close()


class Page:
    """A page with its console errors, uncaught exceptions and blocked requests to other hosts."""

    def __init__(self, context, scheme: str = "light"):
        self.page = context.new_page()
        self.page.emulate_media(color_scheme=scheme)  # the book follows the reader's system setting
        self.errors, self.blocked = [], []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, msg):
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        # a resource we blocked on purpose (another host) reports "Failed to load resource"
        if msg.text.startswith("Failed to load resource") and where in self.blocked:
            return
        self.errors.append(f"console.error: {msg.text} ({where})")

    def open(self, path: Path):
        path = Path(path).resolve()
        if re.search(r"<meta[^>]+http-equiv=[\"']?refresh", path.read_text(errors="replace"), re.I):
            # a redirect page (Jupyter Book's index.html): follow it to its target
            self.page.goto(path.as_uri(), wait_until="load")
            self.page.wait_for_url(lambda url: url != path.as_uri(), wait_until="load", timeout=10000)
        else:
            self.page.goto(path.as_uri(), wait_until="load")
        return self.page

    def close(self):
        self.page.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def _open(path, scheme="light"):
        p = Page(browser, scheme)
        pages.append(p)
        p.open(path)
        return p

    yield _open
    for p in pages:
        p.close()


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def js_decode(page, name, z) -> np.ndarray:
    return np.asarray(page.evaluate("([n, z]) => Array.from(window.vaeExplorer.decode(n, z))",
                                    [name, [float(v) for v in z]]), dtype=np.float64)


def instance_state(page, inst_id) -> dict:
    return page.evaluate(
        """(id) => {
            const inst = window.vaeExplorer.instances[id];
            const c = inst.digit, d = c.getContext('2d').getImageData(0, 0, 28, 28).data;
            const grey = []; for (let i = 0; i < 784; i++) grey.push(d[4 * i]);
            return {z: Array.from(inst.z), pixels: Array.from(inst.pixels), canvas: grey,
                    updates: inst.updates, model: inst.model};
        }""", inst_id)


def keras_model_for(page, name, cache_dir: Path):
    """The trained model of the run the page's explorer was exported from (the build's run cache)."""
    from vae_mnist.store.runs import Run

    run = page.evaluate("(n) => window.vaeExplorer.models[n].run", name)
    assert run, f"explorer model {name} does not name its run"
    path = Path(cache_dir) / run
    assert path.is_dir(), f"run {run} of the explorer not in the build's run cache {cache_dir}"
    return Run(path).model


def check_state_against_keras(state, model) -> float:
    ref = explorer.keras_decode(model, np.asarray([state["z"]], dtype="float32"))[0].astype(np.float64)
    pixels = np.asarray(state["pixels"])
    canvas = np.asarray(state["canvas"], dtype=np.float64)
    err = float(np.abs(pixels - ref).max())
    assert err < TOL, f"browser pixels differ from Keras by {err:.2e} at z={state['z']}"
    cerr = float(np.abs(canvas - 255 * ref).max())
    assert cerr <= CANVAS_TOL, f"canvas grey levels differ from 255*Keras by {cerr:.2f} at z={state['z']}"
    return err


def file_of(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def wait_for_images_and_math(page) -> None:
    """Scroll images below the fold into view, wait until each is loaded, and until MathJax is done."""
    page.evaluate("""async () => {
        for (const img of document.images) {
            if (!img.complete) { img.scrollIntoView(); }
        }
        await Promise.all(Array.from(document.images).map(img => img.complete ? null :
            new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
        if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
            await window.MathJax.startup.promise;
        }
    }""")


# what a page shows, measured in the browser (one evaluate per page)
PAGE_FACTS_JS = """() => {
    const visible = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
    const all = sel => Array.from(document.querySelectorAll(sel));
    const maths = all('.math');
    const article = document.querySelector('.bd-article') || document.body;
    const title = (document.querySelector('.logo__title') || {}).textContent || '';
    const sidebar = document.querySelector('.bd-sidebar-primary');
    const contentBox = e => { const s = getComputedStyle(e);
        return e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); };
    return {
        theme: document.documentElement.dataset.theme || '',
        mathjax: !!(window.MathJax && window.MathJax.version),
        mathjax_version: (window.MathJax && window.MathJax.version) || '',
        math: maths.length,
        math_unrendered: maths.filter(m => !m.querySelector('mjx-container'))
            .map(m => m.textContent.trim().slice(0, 60)),
        math_errors: maths.filter(m => m.querySelector('mjx-merror'))
            .map(m => m.textContent.trim().slice(0, 60)),
        // search fields outside the page's own text (the search page has its form in the text)
        search_fields: all('input[type=search], input[name=q], .search-button-field')
            .filter(e => visible(e) && !article.contains(e)).length,
        title: title.trim(),
        title_in_sidebar: !sidebar || !title.trim() ? 0 : Array.from(sidebar.querySelectorAll('*'))
            .filter(e => visible(e) && e.children.length === 0 && e.textContent.trim() === title.trim()).length,
        images: all('.bd-article img').filter(i => i.naturalWidth > 0).map(i => ({
            src: i.currentSrc, natural: i.naturalWidth, shown: i.getBoundingClientRect().width,
            room: contentBox(i.parentElement)})),
        caption_px: all('figcaption').filter(visible).map(f => parseFloat(getComputedStyle(f).fontSize)),
        downloads: all('a.download, a[download]').map(a => ({text: a.textContent.trim(), href: a.href})),
        background: getComputedStyle(document.body).backgroundColor,
    };
}"""

CONTRAST_JS = """(sel) => {
    const parse = c => { const m = (c || '').match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
        const v = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
    const ground = el => { for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0.5) return c; }
        return [255, 255, 255, 1]; };
    const lum = c => { const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const out = [];
    for (const root of document.querySelectorAll(sel)) {
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let n; (n = walker.nextNode());) {
            const el = n.parentElement;
            if (!n.textContent.trim() || !el.getClientRects().length) continue;
            out.push({text: n.textContent.trim().slice(0, 40),
                      ratio: ratio(parse(getComputedStyle(el).color), ground(el))});
        }
    }
    return out;
}"""


def png_is_opaque(path: Path) -> bool:
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    return img.ndim == 2 or img.shape[2] == 3 or float(img[..., 3].min()) >= 0.999


def html_pages(html_dir: Path):
    pages = sorted(p for p in html_dir.rglob("*.html")
                   if not any(part.startswith(("_", ".")) for part in p.relative_to(html_dir).parts))
    assert pages, f"no HTML pages under {html_dir}"
    return pages


# --------------------------------------------------------------------------------------
# The JavaScript decoder itself, every weight format
# --------------------------------------------------------------------------------------
def test_js_decoder_equals_python_reference_for_every_format(open_page, tmp_path):
    model2 = build_vae(latent_dim=2, hidden_dim=512, seed=11)
    model5 = build_vae(latent_dim=5, hidden_dim=512, seed=12)
    for m in (model2, model5):  # large hidden activations, as in a trained decoder
        for layer in m.decoder.layers:
            if layer.get_weights():
                layer.set_weights([w * 4.0 for w in layer.get_weights()])
    widgets = []
    for fmt in explorer.FORMATS:
        widgets.append(explorer.latent_pad(model2, name=f"pad_{fmt}", fmt=fmt))
        widgets.append(explorer.latent_sliders(model5, name=f"sl_{fmt}", fmt=fmt))
    page_file = tmp_path / "formats.html"
    page_file.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>\n"
                         + "\n".join(w.html for w in widgets) + "\n</body></html>")
    p = open_page(page_file)
    rng = np.random.default_rng(7)
    for w in widgets:
        payload, model = w.payload, (model2 if w.payload["latent_dim"] == 2 else model5)
        zs = np.concatenate([np.zeros((1, payload["latent_dim"])),
                             rng.uniform(-3, 3, (5, payload["latent_dim"]))])
        for z in zs:
            got = js_decode(p.page, payload["name"], z)
            ref_py = explorer.numpy_decode(payload, z)[0]
            assert np.abs(got - ref_py).max() < 1e-6, payload["name"]
            ref_keras = explorer.keras_decode(model, z)[0]
            assert np.abs(got - ref_keras).max() <= payload["max_abs_error"] + 1e-6
    assert len(p.page.evaluate("Object.keys(window.vaeExplorer.instances)")) == len(widgets)
    assert p.errors == [] and p.blocked == []


# --------------------------------------------------------------------------------------
# The built smoke book
# --------------------------------------------------------------------------------------
def test_every_page_reads_right_offline_in_light_and_dark(book, open_page):
    """Every page, opened with the reader's system in the light scheme, then switched to dark (the theme
    follows the system setting while the page is open): what is the same in both schemes (images, equations,
    links, search field, title, run downloads) is checked once, the theme and the explorer's contrast in both."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    html_dir = book.html
    problems, blocked, opaque_checked = [], set(), {}
    n_images = n_math = n_run_pages = n_audited = 0
    captions, rooms = [], []
    pages = html_pages(html_dir)
    for path in pages:
        p = open_page(path, "light")
        wait_for_images_and_math(p.page)
        rel = path.relative_to(html_dir)
        bad = p.page.evaluate("""() => Array.from(document.images)
            .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
            .map(img => img.getAttribute('src'))""")
        # a numbered figure whose image went missing (e.g. a figure rendered as "<Figure size ...>" text)
        empty = p.page.evaluate("""() => Array.from(document.querySelectorAll('figure'))
            .filter(f => !f.querySelector('img, svg, canvas, video'))
            .map(f => f.id || (f.textContent || '').trim().slice(0, 60))""")
        facts = p.page.evaluate(PAGE_FACTS_JS)
        n_images += p.page.evaluate("document.images.length")
        problems += [f"{rel}: {e}" for e in p.errors]
        n_errors, n_blocked = len(p.errors), len(p.blocked)
        problems += [f"{rel}: request to another host: {u}" for u in p.blocked]
        problems += [f"{rel}: image not loaded: {src}" for src in bad]
        problems += [f"{rel}: figure without an image: {f}" for f in empty]
        # equations: typeset by the book's own MathJax, none left as raw TeX, no TeX errors
        n_math += facts["math"]
        if facts["math"] and not facts["mathjax"]:
            problems.append(f"{rel}: {facts['math']} equations but no MathJax on the page")
        problems += [f"{rel}: equation not typeset: {m!r}" for m in facts["math_unrendered"]]
        problems += [f"{rel}: TeX error in equation: {m!r}" for m in facts["math_errors"]]
        # one search field, the title once
        if rel.name != "search.html" and facts["search_fields"] != 1:
            problems.append(f"{rel}: {facts['search_fields']} visible search fields (want 1)")
        if facts["title"] and facts["title_in_sidebar"] != 1:
            problems.append(f"{rel}: the book's title appears {facts['title_in_sidebar']} times in the sidebar")
        if facts["theme"] != "light":
            problems.append(f"{rel}: theme is {facts['theme']!r} with the reader's system set to light")
        # figures: opaque (legible on the dark theme too), shown in a column of known width
        for img in facts["images"]:
            f = file_of(img["src"])
            if f.suffix.lower() == ".png":
                if f not in opaque_checked:
                    opaque_checked[f] = png_is_opaque(f)
                if not opaque_checked[f]:
                    problems.append(f"{rel}: figure {f.name} has a transparent background (unreadable in dark mode)")
            rooms.append((img["room"], f"{rel}: {f.name}"))
        captions += facts["caption_px"]
        # accessibility: axe-core's WCAG 2.1 A/AA rules, alternative text that says something, labelled canvases
        problems += [f"{rel}: {v}" for v in axe_violations(p.page)]
        a11y = p.page.evaluate(A11Y_FACTS_JS)
        problems += [f"{rel}: image without alternative text beyond its file name: {s}" for s in a11y["images"]]
        problems += [f"{rel}: canvas without a label: {c}" for c in a11y["canvases"]]
        n_audited += 1
        # the explorer's text against what is behind it, in the light scheme and then in the dark one
        for t in p.page.evaluate(CONTRAST_JS, ".vae-explorer"):
            if t["ratio"] < MIN_CONTRAST:
                problems.append(f"{rel}: explorer text {t['text']!r} has contrast {t['ratio']:.1f} (< {MIN_CONTRAST})")
        p.page.emulate_media(color_scheme="dark")
        try:
            p.page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'", timeout=5000)
        except PlaywrightTimeout:
            problems.append(f"{rel}: theme stays {p.page.evaluate('document.documentElement.dataset.theme')!r} "
                            "with the reader's system switched to dark")
        p.page.wait_for_timeout(600)  # the theme's colours fade over (CSS transitions): audit the settled page
        problems += [f"{rel} [dark]: {v}" for v in axe_violations(p.page)]
        n_audited += 1
        for t in p.page.evaluate(CONTRAST_JS, ".vae-explorer"):
            if t["ratio"] < MIN_CONTRAST:
                problems.append(f"{rel} [dark]: explorer text {t['text']!r} has contrast {t['ratio']:.1f} (< {MIN_CONTRAST})")
        problems += [f"{rel} [dark]: {e}" for e in p.errors[n_errors:]]
        problems += [f"{rel} [dark]: request to another host: {u}" for u in p.blocked[n_blocked:]]
        # run pages: the run's files (RUN_DOWNLOADS), copied into the built book
        if rel.parts[:2] == ("book", "runs") and rel.stem != "index":
            n_run_pages += 1
            links = {d["text"]: file_of(d["href"]) for d in facts["downloads"]}
            for name, _ in RUN_DOWNLOADS:
                target = links.get(name)
                if target is None:
                    problems.append(f"{rel}: no download link for {name}")
                elif not (target.is_file() and target.stat().st_size > 0
                          and html_dir in target.resolve().parents):
                    problems.append(f"{rel}: {name} links to {target}, not a file of the built book")
        blocked.update(p.blocked)
        p.close()
    narrowest = min(rooms, default=(None, ""))
    print(f"\n[light and dark] {len(pages)} pages, {n_images} images, {n_math} equations typeset, "
          f"{n_run_pages} run pages; requests to other hosts: {len(blocked)}"
          f"{': ' + ', '.join(sorted(blocked)) if blocked else ''}; caption size "
          f"{max(captions, default=0):.1f}px, narrowest figure column {narrowest[0]}px")
    assert not problems, "\n".join(problems)
    assert n_audited == 2 * len(pages), (n_audited, len(pages))   # every page audited, light and dark
    assert n_images > 0, "the book has no images at all"
    assert n_math > 0, "the book has no equations at all"
    assert n_run_pages > 0, "the book has no run pages"
    # the assumptions of tests/test_figure_text.py: figures get at least PAGE_WIDTH_PX, captions
    # are at most CAPTION_PX, so a figure's smallest text is at least the caption size on the page
    assert captions and max(captions) <= figures.CAPTION_PX + 0.05, (max(captions, default=None), figures.CAPTION_PX)
    assert narrowest[0] >= figures.PAGE_WIDTH_PX - 1, f"figure column {narrowest[0]}px < {figures.PAGE_WIDTH_PX}px at {narrowest[1]}"


SCREENSHOT_PAGES = ("book/training.html", "book/latent2d.html", "book/beyond/sweep.html")


def test_screenshots_light_and_dark(book, open_page, tmp_path):
    """Three pages (and the first run page) in the light and the dark theme, kept for a person to look at."""
    out = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    run_pages = sorted(p for p in (book.html / "book" / "runs").glob("*.html") if p.stem != "index")
    targets = [book.html / rel for rel in SCREENSHOT_PAGES] + run_pages[:1]
    shots, grounds = [], {}
    for target in targets:
        assert target.is_file(), f"{target} missing"
        for scheme in ("light", "dark"):
            p = open_page(target, scheme)
            wait_for_images_and_math(p.page)
            grounds[scheme] = p.page.evaluate("getComputedStyle(document.body).backgroundColor")
            for kind, full in (("top", False), ("page", True)):
                shot = out / f"{target.stem}-{scheme}-{kind}.png"
                p.page.screenshot(path=str(shot), full_page=full)
                shots.append(shot)
            assert p.errors == [] and p.blocked == [], (p.errors, p.blocked)
            p.close()
    def luminance(css):
        r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
    assert luminance(grounds["light"]) > 0.8 and luminance(grounds["dark"]) < 0.3, grounds
    assert all(s.stat().st_size > 5000 for s in shots)
    print(f"\nscreenshots ({len(shots)}): {out}\n  " + "\n  ".join(s.name for s in shots))


def test_latent_pad_follows_the_mouse_and_matches_keras(book, open_page, tmp_path):
    html_dir = book.html
    path = html_dir / "book" / "latent2d.html"
    assert path.is_file(), f"{path} missing"
    p = open_page(path)
    page = p.page
    pads = page.evaluate("Object.keys(window.vaeExplorer.instances).filter("
                         "id => window.vaeExplorer.instances[id].range !== undefined)")
    assert len(pads) == 1, pads
    inst_id = pads[0]
    name = page.evaluate("(id) => window.vaeExplorer.instances[id].model", inst_id)
    model = keras_model_for(page, name, book.cache_dir)
    assert model.latent_dim == 2

    # fixed latent points, decoded by the page's JavaScript, against Keras
    fixed = np.array([[0, 0], [1.5, -0.5], [-2, 2], [0.3, 2.7], [-2.9, -2.9], [3, 0.1]], dtype="float32")
    js = np.stack([js_decode(page, name, z) for z in fixed])
    keras = explorer.keras_decode(model, fixed).astype(np.float64)
    fixed_err = float(np.abs(js - keras).max())
    assert fixed_err < TOL, f"max |browser - Keras| = {fixed_err:.2e}"

    # the mouse: move over the pad, the point and the digit follow
    pad = page.locator(f"#{inst_id} canvas.vae-explorer-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    R = page.evaluate("(id) => window.vaeExplorer.instances[id].range", inst_id)
    shots, states, errors = [], [], []
    start = instance_state(page, inst_id)
    assert start["z"] == [0, 0]
    errors.append(check_state_against_keras(start, model))
    for k, (fx, fy) in enumerate([(0.25, 0.3), (0.75, 0.65), (0.5, 0.9), (0.1, 0.55)]):
        x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
        before = instance_state(page, inst_id)["updates"]
        page.mouse.move(x, y, steps=4)
        state = instance_state(page, inst_id)
        assert state["updates"] > before, "moving the mouse did not update the explorer"
        expected = [-R + 2 * R * fx, R - 2 * R * fy]
        assert np.allclose(state["z"], expected, atol=2 * R / box["width"] * 1.5), (state["z"], expected)
        errors.append(check_state_against_keras(state, model))
        states.append(state)
        shot = tmp_path / f"explorer-pad-{k}.png"
        page.locator(f"#{inst_id}").screenshot(path=str(shot))
        shots.append(shot)
    # the drawn digit changed from one point to the next
    canvases = [np.asarray(s["canvas"]) for s in [start] + states]
    for a, b in zip(canvases, canvases[1:]):
        assert np.abs(a - b).max() > 10, "the drawn digit did not change when the point moved"
    # a drag (button held) works the same way
    page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.4 * box["width"], box["y"] + 0.4 * box["height"], steps=5)
    page.mouse.up()
    errors.append(check_state_against_keras(instance_state(page, inst_id), model))
    full = tmp_path / "latent2d-page.png"
    page.screenshot(path=str(full), full_page=True)
    shots.append(full)
    assert all(s.stat().st_size > 1000 for s in shots)
    print(f"\nexplorer screenshots: {tmp_path}\n  " + "\n  ".join(str(s) for s in shots))
    print(f"max |browser - Keras|: fixed points {fixed_err:.2e}, mouse points {max(errors):.2e} "
          f"(format {page.evaluate('(n) => window.vaeExplorer.models[n].format', name)})")
    assert p.errors == [], p.errors


def test_slider_explorers_follow_the_keyboard_and_match_keras(book, open_page, tmp_path):
    html_dir = book.html
    path = html_dir / "book" / "samples.html"
    assert path.is_file(), f"{path} missing"
    p = open_page(path)
    page = p.page
    ids = page.evaluate("Object.keys(window.vaeExplorer.instances).filter("
                        "id => window.vaeExplorer.instances[id].sliders !== undefined)")
    dims = sorted(page.evaluate("(id) => window.vaeExplorer.models[window.vaeExplorer.instances[id].model]"
                                ".latentDim", i) for i in ids)
    assert dims == [10, 20], dims
    for inst_id in ids:
        name = page.evaluate("(id) => window.vaeExplorer.instances[id].model", inst_id)
        model = keras_model_for(page, name, book.cache_dir)
        start = instance_state(page, inst_id)
        assert start["z"] == [0] * model.latent_dim  # every slider starts at 0
        check_state_against_keras(start, model)
        # fixed points through the page's decoder
        rng = np.random.default_rng(1)
        fixed = rng.uniform(-3, 3, (4, model.latent_dim)).astype("float32")
        js = np.stack([js_decode(page, name, z) for z in fixed])
        assert np.abs(js - explorer.keras_decode(model, fixed)).max() < TOL
        # keyboard: the first slider to its maximum, the last one step down
        sliders = page.locator(f"#{inst_id} input.vae-explorer-slider")
        sliders.nth(0).focus()
        page.keyboard.press("End")
        sliders.nth(model.latent_dim - 1).focus()
        page.keyboard.press("PageDown")
        state = instance_state(page, inst_id)
        assert state["z"][0] == pytest.approx(explorer.SLIDER_RANGE)
        assert state["z"][-1] < 0 and all(v == 0 for v in state["z"][1:-1])
        check_state_against_keras(state, model)
        assert np.abs(np.asarray(state["canvas"]) - np.asarray(start["canvas"])).max() > 10
        shot = tmp_path / f"explorer-{name}.png"
        page.locator(f"#{inst_id}").screenshot(path=str(shot))
        print(f"\nslider explorer screenshot: {shot}")
    assert p.errors == [], p.errors


# --------------------------------------------------------------------------------------
# The drawing pad: the encoder in the browser (vae_mnist.widgets.drawpad, static/drawpad.js)
# --------------------------------------------------------------------------------------
def drawpad_state(page, inst_id) -> dict:
    return page.evaluate("""(id) => { const i = window.vaeExplorer.instances[id];
        return {mean: i.mean && Array.from(i.mean), sigma: i.sigma && Array.from(i.sigma),
                seen: Array.from(i.seen), updates: i.updates, model: i.model}; }""", inst_id)


def drawpad_ink(page, inst_id) -> np.ndarray:
    """The pad's canvas as ink in [0, 1] (its red channel), as the page reads it."""
    return np.asarray(page.evaluate("""(id) => { const c = window.vaeExplorer.instances[id].root
        .querySelector('.vae-drawpad-ink'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = []; for (let i = 0; i < d.length; i += 4) out.push(d[i]); return [c.width, out]; }""", inst_id)[1],
        dtype=np.float64) / 255


def encoder_model_for(page, name, cache_dir: Path):
    from vae_mnist.store.runs import Run

    run = page.evaluate("(n) => window.vaeExplorer.encoders[n].run", name)
    assert run, f"drawing pad {name} does not name its run"
    return Run(Path(cache_dir) / run).model


def test_js_encoder_and_mnist_form_equal_python_reference_for_every_format(open_page, tmp_path):
    from vae_mnist.widgets import drawpad
    from helpers import mnist

    model = build_vae(latent_dim=3, hidden_dim=512, seed=13)
    x = mnist().x_test[:20].reshape(20, 784)
    widgets = [drawpad.draw_pad(model, x, name=f"enc_{fmt}", fmt=fmt) for fmt in explorer.FORMATS]
    page_file = tmp_path / "encoders.html"
    page_file.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>\n"
                         + "\n".join(w.html for w in widgets) + "\n</body></html>")
    p = open_page(page_file)
    ref_keras = drawpad.keras_encode(model, x)
    for w in widgets:
        got = p.page.evaluate("([n, xs]) => xs.map(x => window.vaeExplorer.encode(n, x))",
                              [w.payload["name"], x.astype(float).tolist()])
        mean = np.asarray([g["mean"] for g in got]); sigma = np.asarray([g["sigma"] for g in got])
        ref_mean, ref_sigma = drawpad.numpy_encode(w.payload, x)
        assert max(np.abs(mean - ref_mean).max(), np.abs(sigma - ref_sigma).max()) < 1e-9, w.payload["format"]
        err = max(np.abs(mean - ref_keras[0]).max(), np.abs(sigma - ref_keras[1]).max())
        assert err <= w.payload["max_abs_error"] + 1e-9
    # MNIST's form: the JavaScript and the numpy twin agree on odd drawings too
    rng = np.random.default_rng(3)
    for shape in [(280, 280), (97, 53), (31, 200)]:
        ink = np.zeros(shape)
        for _ in range(4):
            r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
            ink[r:r + rng.integers(1, 40), c:c + rng.integers(1, 40)] = rng.uniform(0.2, 1)
        js = np.asarray(p.page.evaluate(
            "([ink, w, h]) => Array.from(window.vaeExplorer.mnistForm(ink, w, h, {box: 20, side: 28, centre: 14}))",
            [ink.reshape(-1).tolist(), shape[1], shape[0]]))
        assert np.abs(js - drawpad.mnist_form(ink)).max() < 1e-9, shape
    assert p.errors == [] and p.blocked == []


def _drawpads(page):
    return page.evaluate("Object.keys(window.vaeExplorer.instances).filter("
                         "id => window.vaeExplorer.instances[id].drawpad === true)")


def _check_painted_test_images(page, inst_id, model, tol) -> float:
    """Paint test images on the pad programmatically; the encoder's input is the image, mean and σ are Keras's."""
    from vae_mnist.widgets import drawpad
    from helpers import mnist

    x = mnist().x_test[:60].reshape(-1, 784).astype(np.float64)
    keep = [img for img in x if np.abs(drawpad.mnist_form(np.kron(img.reshape(28, 28), np.ones((10, 10)))) - img).max() < 1e-9]
    assert len(keep) >= 50
    ref_mean, ref_sigma = drawpad.keras_encode(model, np.asarray(keep[:12]))
    worst = 0.0
    for k, img in enumerate(keep[:12]):
        page.evaluate("([id, px]) => window.vaeExplorer.instances[id].paint(px)", [inst_id, img.tolist()])
        s = drawpad_state(page, inst_id)
        # (the page reads 8-bit grey levels g / 255 in float64; MNIST's float32 g / 255 differs by < 1e-7)
        assert np.abs(np.asarray(s["seen"]) - img).max() < 1e-6, "the pad did not give the encoder the painted image"
        err = max(np.abs(np.asarray(s["mean"]) - ref_mean[k]).max(), np.abs(np.asarray(s["sigma"]) - ref_sigma[k]).max())
        assert err < tol, f"posterior of test image {k} differs from Keras by {err:.2e}"
        worst = max(worst, err)
    return worst


def test_drawpad_posterior_matches_keras_and_follows_a_stroke(book, open_page, tmp_path):
    from vae_mnist.widgets import drawpad

    p = open_page(book.html / "book" / "latent2d.html")
    page = p.page
    pads = _drawpads(page)
    assert len(pads) == 1, pads
    inst_id = pads[0]
    name = page.evaluate("(id) => window.vaeExplorer.instances[id].model", inst_id)
    model = encoder_model_for(page, name, book.cache_dir)
    assert model.latent_dim == 2
    opened = drawpad_state(page, inst_id)
    assert opened["mean"] is not None, "the pad opens with a digit and its posterior"
    worst = _check_painted_test_images(page, inst_id, model, drawpad.TOLERANCE)

    # clear with the keyboard (Tab to the button, Enter), then draw strokes with the mouse
    clear = page.locator(f"#{inst_id} button.vae-drawpad-clear")
    clear.focus()
    page.keyboard.press("Enter")
    s = drawpad_state(page, inst_id)
    assert s["mean"] is None and not any(s["seen"]), "clear did not empty the pad"
    pad = page.locator(f"#{inst_id} canvas.vae-drawpad-ink")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    at = lambda fx, fy: (box["x"] + fx * box["width"], box["y"] + fy * box["height"])  # noqa: E731
    means = []
    for stroke in ([(0.5, 0.15), (0.5, 0.85)],                    # a vertical bar: a 1
                   [(0.5, 0.15), (0.8, 0.15), (0.8, 0.5)]):       # a bar on top: towards a 7
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        for pt in stroke[1:]:
            page.mouse.move(*at(*pt), steps=8)
        page.mouse.up()
        page.wait_for_timeout(100)  # the pad redraws on the next animation frame
        s = drawpad_state(page, inst_id)
        assert s["mean"] is not None, "a stroke gave no posterior"
        # what the page encoded is the drawing in MNIST's form, and its posterior is Keras's
        seen = drawpad.mnist_form(drawpad_ink(page, inst_id).reshape(drawpad.PAD_PX, drawpad.PAD_PX))
        assert np.abs(np.asarray(s["seen"]) - seen).max() < 1e-9
        ref_mean, ref_sigma = drawpad.keras_encode(model, seen[None])
        assert np.abs(np.asarray(s["mean"]) - ref_mean[0]).max() < drawpad.TOLERANCE
        assert np.abs(np.asarray(s["sigma"]) - ref_sigma[0]).max() < drawpad.TOLERANCE
        means.append(np.asarray(s["mean"]))
    moved = float(np.abs(means[1] - means[0]).max())
    assert moved > 1e-3, f"a second stroke did not move the posterior mean ({moved:.2e})"
    shot = tmp_path / "drawpad-z2.png"
    page.locator(f"#{inst_id}").screenshot(path=str(shot))
    print(f"\ndrawing pad: worst |browser - Keras| over painted test images {worst:.2e}; a stroke moved the mean "
          f"by {moved:.3f}; screenshot {shot}")
    assert p.errors == [] and p.blocked == [], (p.errors, p.blocked)


def test_drawpads_per_coordinate_match_keras(book, open_page, tmp_path):
    from vae_mnist.widgets import drawpad

    p = open_page(book.html / "book" / "samples.html")
    page = p.page
    pads = _drawpads(page)
    dims = {}
    for inst_id in pads:
        name = page.evaluate("(id) => window.vaeExplorer.instances[id].model", inst_id)
        model = encoder_model_for(page, name, book.cache_dir)
        dims[model.latent_dim] = _check_painted_test_images(page, inst_id, model, drawpad.TOLERANCE)
        page.locator(f"#{inst_id}").screenshot(path=str(tmp_path / f"drawpad-{name}.png"))
    assert sorted(dims) == [10, 20], dims
    print(f"\nper-coordinate pads: worst |browser - Keras| {dims}; screenshots in {tmp_path}")
    assert p.errors == [] and p.blocked == [], (p.errors, p.blocked)


# --------------------------------------------------------------------------------------
# The latent space over training (vae_mnist.measures.trajectory, static/trajectory.js)
# --------------------------------------------------------------------------------------
def test_trajectory_slider_and_play_change_the_plane(book, open_page, tmp_path):
    p = open_page(book.html / "book" / "latent2d.html")
    page = p.page
    ids = page.evaluate("Object.keys(window.vaeExplorer.instances).filter("
                        "id => window.vaeExplorer.instances[id].trajectory === true)")
    assert len(ids) == 1, ids
    inst_id = ids[0]
    state = lambda: page.evaluate("""(id) => { const i = window.vaeExplorer.instances[id];
        const c = i.root.querySelector('.vae-trajectory-plane');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let h = 0; for (let k = 0; k < d.length; k += 4) h = (h * 31 + d[k] + 7 * d[k + 1] + 13 * d[k + 2]) % 1000000007;
        return {epoch: i.epoch, epochs: i.epochs, updates: i.updates, playing: i.playing, plane: h,
                grid: i.gridEpoch,
                text: i.root.querySelector('.vae-trajectory-readout').textContent}; }""", inst_id)  # noqa: E731
    last = state()
    assert last["epochs"] >= 1 and last["epoch"] == last["epochs"], last  # opens at the end of training
    slider = page.locator(f"#{inst_id} input.vae-trajectory-slider")
    slider.focus()
    page.keyboard.press("Home")  # the keyboard moves the slider to epoch 0
    first = state()
    assert first["epoch"] == 0 and first["updates"] > last["updates"], first
    assert first["plane"] != last["plane"], "the plane did not change with the epoch"
    assert "before training" in first["text"] and first["text"] != last["text"]
    page.locator(f"#{inst_id} button.vae-trajectory-play").click()  # play runs to the last epoch and stops
    page.wait_for_function("(id) => { const i = window.vaeExplorer.instances[id]; return !i.playing && i.epoch === i.epochs; }",
                           arg=inst_id, timeout=5000 + 1000 * last["epochs"])
    page.wait_for_function("(id) => window.vaeExplorer.instances[id].gridEpoch === window.vaeExplorer.instances[id].epochs",
                           arg=inst_id, timeout=5000)  # the decoded grid of the last epoch is drawn
    end = state()
    assert end["plane"] == last["plane"]
    page.locator(f"#{inst_id}").screenshot(path=str(tmp_path / "trajectory.png"))
    print(f"\ntrajectory widget: {last['epochs']} epochs, screenshot {tmp_path / 'trajectory.png'}")
    assert p.errors == [] and p.blocked == [], (p.errors, p.blocked)


def test_the_audit_fails_on_a_planted_image_without_alternative_text(book, open_page):
    """The accessibility checks can fail: an image planted without alt text (and one whose alt is a file name)
    is caught by axe-core and by the book's own check; the page without it passes."""
    p = open_page(book.html / "book" / "intro.html")
    assert axe_violations(p.page) == [] and p.page.evaluate(A11Y_FACTS_JS)["images"] == []
    p.page.evaluate("""() => { const main = document.querySelector('main') || document.body;
        for (const alt of [null, '../_images/0123abcd.png']) { const img = document.createElement('img');
            img.src = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
            if (alt) img.setAttribute('alt', alt); main.prepend(img); } }""")
    assert any(v.startswith("axe image-alt:") for v in axe_violations(p.page))
    assert len(p.page.evaluate(A11Y_FACTS_JS)["images"]) == 2


def test_drawpad_draws_from_the_keyboard(book, open_page):
    """Tab to the pad, Space puts the pen down, the arrow keys draw, Space lifts it: the pad holds ink, the
    posterior follows; Delete clears it."""
    p = open_page(book.html / "book" / "latent2d.html")
    page = p.page
    (inst_id,) = _drawpads(page)
    pad = page.locator(f"#{inst_id} canvas.vae-drawpad-ink")
    pad.focus()
    page.keyboard.press("Delete")
    assert drawpad_state(page, inst_id)["mean"] is None and drawpad_ink(page, inst_id).sum() == 0
    page.keyboard.press("Space")
    for key in ["ArrowUp"] * 8 + ["ArrowDown"] * 16:
        page.keyboard.press(key)
    page.keyboard.press("Space")
    page.wait_for_timeout(100)
    s = drawpad_state(page, inst_id)
    ink = drawpad_ink(page, inst_id)
    assert ink.sum() > 0 and s["mean"] is not None, "keys drew nothing"
    cols = np.nonzero(ink.reshape(int(np.sqrt(ink.size)), -1).sum(axis=0))[0]
    assert cols.max() - cols.min() < ink.size ** 0.5 / 4, "the pen drew across the pad, not a vertical bar"
    page.keyboard.press("Shift+ArrowRight")
    assert drawpad_ink(page, inst_id).sum() == ink.sum(), "a lifted pen still drew"
    page.keyboard.press("Delete")
    assert drawpad_state(page, inst_id)["mean"] is None
    assert p.errors == [] and p.blocked == [], (p.errors, p.blocked)
