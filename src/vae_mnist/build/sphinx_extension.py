"""A Sphinx extension for the book: pages that run without JavaScript errors.

1. Each page loads each script once.

Jupyter Book 1.0.4 with Sphinx 7.4 writes some inline scripts twice into every page (sphinx-thebe's
``const THEBE_JS_URL = ...`` and sphinx-togglebutton's selector). A second ``const`` declaration
is an uncaught SyntaxError in the browser, so every page of the book logged a JavaScript error
(found by tests/test_browser.py). This extension drops exact duplicates from the page's script
list, keeping the first of each.

2. A first visit logs no error. pydata-sphinx-theme reads the colour mode from ``localStorage``, or
else from ``html_context["default_mode"]``; Jupyter Book leaves that unset, so a reader's first
page logged "Got invalid theme mode: . Resetting to auto." as a console error. The default here is
``auto`` (follow the reader's system setting), which is what the theme falls back to anyway.

3. Equations without a network. Sphinx loads MathJax from a CDN by default, so a book opened from
disk or offline showed raw LaTeX. ``_config.yml`` sets ``mathjax_path`` to a path under
``_static`` (relative: it works from ``file://`` and on any static host), and this extension copies
the MathJax 3 components that path needs into the built book when the HTML build finishes: the
``tex-chtml`` combined component, its web fonts and the TeX extensions it autoloads (about 2 MB of
the package's 24 MB), with MathJax's licence. The files come from the Python package
``django-static-mathjax`` (MathJax 3.2.2's own ``es5`` build; installed by ``make venv``, see
``pyproject.toml``). A ``mathjax_path`` on another host is an error, not a silent CDN request.

4. Bold for numbers only. MyST-NB sets every ``{glue:text}`` value in bold; a glued number may stand
out, but a glued clause (e.g. "one seed (seed 0); build with ...") in bold reads oddly. Glued text
that is a number is marked ``pasted-number`` and only that stays bold (``static/css/vae-book.css``).

5. Labels for undated references. The bibliography's ``alpha`` labels end in the last two characters
of the year, so the paper's entry (``year = {n.d.}``: the report is undated) printed as "[GRSd.]". The
style ``alpha_undated`` (``bibtex_default_style`` in ``_config.yml``) is pybtex's ``alpha`` with one
change: a year that does not end in two digits adds nothing to the label ("[GRS]").

6. Pages a screen reader can use (the browser test runs axe-core on every page, tests/test_browser.py):
   * a figure's image says what it shows: an image whose alternative text is only its file name (what
     MyST-NB gives a cell's output) takes its figure's caption; an image outside a figure keeps the
     ``alt`` its cell gives (``mystnb: image: alt:`` in the cell's metadata);
   * the theme's sidebar toggles (``<summary>`` around an icon) get a name, "Show or hide the pages of
     <section>";
   * the bibliography's entries are list items of its list (docutils writes ``role="doc-biblioentry"``,
     a role deprecated by WAI-ARIA, inside ``role="list"``, which then has no items).

Enabled in ``_config.yml`` (``sphinx: extra_extensions``).
"""
from __future__ import annotations

import posixpath
import re
import shutil
from pathlib import Path

from docutils import nodes

from sphinx.errors import ExtensionError

#: ``mathjax_path`` of the book (under ``_static``), and what the MathJax folder next to it needs:
#: the combined component, the CHTML output's fonts and the TeX packages that ``autoload`` fetches
#: on first use (e.g. ``\boldsymbol``). The menu, speech and explorer (a11y, sre) are left out.
MATHJAX_PATH = "mathjax/tex-chtml.js"
MATHJAX_PARTS = ("output/chtml/fonts/woff-v2", "input/tex/extensions")
MATHJAX_VERSION = "3.2.2"


def mathjax_source() -> Path:
    """The ``es5`` folder of MathJax's build, from the ``django-static-mathjax`` package."""
    try:
        import mathjax  # the package django-static-mathjax (no Django needed: it only ships files)
    except ImportError:
        raise ExtensionError("MathJax is not installed: pip install 'django-static-mathjax==3.2.2.1' "
                             "(make venv does)") from None
    root = Path(mathjax.__file__).resolve().parent / "static" / "mathjax"
    es5 = root / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise ExtensionError(f"no MathJax build at {es5}")
    return es5


def _is_remote(path: str) -> bool:
    return "://" in path or path.startswith("//")


def check_mathjax_path(app, config):
    path = config.mathjax_path or ""
    if _is_remote(path):
        raise ExtensionError(f"mathjax_path {path!r} is on another host; the book serves its own MathJax: "
                             f"set sphinx: config: mathjax_path: {MATHJAX_PATH} in _config.yml")


def copy_mathjax(app, exception):
    """Copy the MathJax files that ``mathjax_path`` needs into ``<outdir>/_static``."""
    if exception is not None or app.builder.format != "html":
        return
    path = app.config.mathjax_path
    if _is_remote(path):  # pragma: no cover - refused at config-inited
        return
    src = mathjax_source()
    name = posixpath.basename(path)
    if not (src / name).is_file():
        raise ExtensionError(f"mathjax_path {path!r}: MathJax {MATHJAX_VERSION} has no component {name}")
    dest = Path(app.outdir) / "_static" / posixpath.dirname(path)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / name, dest / name)
    for part in MATHJAX_PARTS:
        shutil.copytree(src / part, dest / part, dirs_exist_ok=True)
    licence = src.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, dest / "LICENSE")


def _key(script):
    # the copies differ only in how "no file" is spelled (None in one, "" in the other)
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _key(script)
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    if len(unique) != len(scripts):
        scripts[:] = unique


def default_colour_mode(app, config):
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


CSS_DIR = Path(__file__).resolve().parent / "static" / "css"
CSS_FILE = "vae-book.css"
# a number as glue prints it: 101.46, -3.2e-04, 60,000, 12 %
_NUMBER = re.compile(r"^[-+−]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][-+]?\d+)?\s?%?$")


def is_number(text: str) -> bool:
    """A glued number (``101.46``, ``60,000``, ``12 %``, ``96.85 ± 0.24``), not a clause."""
    parts = [p.strip() for p in text.split("\u00b1")]
    return all(p and any(c.isdigit() for c in p) and _NUMBER.match(p) for p in parts)


def mark_glued_numbers(app, doctree, docname):
    for node in doctree.findall(nodes.inline):
        if "pasted-text" in node["classes"] and is_number(node.astext()):
            node["classes"].append("pasted-number")


def add_book_css(app, config):
    config.html_static_path = list(config.html_static_path or []) + [str(CSS_DIR)]


BIB_STYLE = "alpha_undated"


def register_bibliography_style() -> None:
    """pybtex's ``alpha`` style whose labels take a year's last two characters only when they are digits."""
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.alpha import Style as AlphaStyle
    from pybtex.style.labels.alpha import LabelStyle as AlphaLabels

    class UndatedLabels(AlphaLabels):
        def format_label(self, entry):
            year = entry.fields.get("year", "")
            if year[-2:].isdigit():
                return super().format_label(entry)
            fields = entry.fields
            try:
                entry.fields = type(fields)((k, v) for k, v in fields.items() if k.lower() != "year")
                return super().format_label(entry)
            finally:
                entry.fields = fields

    class UndatedStyle(AlphaStyle):
        default_label_style = BIB_STYLE

    register_plugin("pybtex.style.labels", BIB_STYLE, UndatedLabels)
    register_plugin("pybtex.style.formatting", BIB_STYLE, UndatedStyle)


def _caption_text(figure) -> str:
    for child in figure.children:
        if isinstance(child, nodes.caption):
            return " ".join(child.astext().split())
    return ""


def describe_figure_images(app, doctree, docname):
    """An image with a file name for alternative text takes its figure's caption (what it shows)."""
    for image in doctree.findall(nodes.image):
        alt = image.get("alt", "")
        uri = image.get("uri", "")
        if alt and alt != uri and not alt.endswith((".png", ".svg", ".jpg")):
            continue
        parent = image.parent
        while parent is not None and not isinstance(parent, nodes.figure):
            parent = parent.parent
        caption = _caption_text(parent) if parent is not None else ""
        if caption:
            image["alt"] = caption


_TOGGLE = re.compile(r'<summary><span class="toctree-toggle" role="presentation">')
_TOC_ENTRY = re.compile(r'<a class="reference internal" href="[^"]*">([^<]*)</a>\s*<details><summary>')


def _name_toggles(html: str) -> str:
    def named(match):
        return match.group(0).replace("<summary>", f'<summary aria-label="Show or hide the pages of {match.group(1).strip()}">')

    html = _TOC_ENTRY.sub(named, str(html))
    return _TOGGLE.sub('<summary aria-label="Show or hide these pages"><span class="toctree-toggle" role="presentation">', html)


def accessible_page(app, pagename, templatename, context, doctree):
    """Name the sidebar toggles (in the theme's toctree HTML) and make the bibliography a list of items."""
    from markupsafe import Markup

    generate = context.get("generate_toctree_html")
    if callable(generate) and not getattr(generate, "named_toggles", False):
        def named_toctree(*args, **kwargs):
            return Markup(_name_toggles(generate(*args, **kwargs)))

        named_toctree.named_toggles = True
        context["generate_toctree_html"] = named_toctree
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    register_bibliography_style()
    app.connect("doctree-resolved", describe_figure_images)
    app.connect("html-page-context", accessible_page, priority=900)  # after the theme adds its toctree function
    app.connect("config-inited", add_book_css)
    app.add_css_file(CSS_FILE)
    app.connect("doctree-resolved", mark_glued_numbers)
    app.connect("config-inited", default_colour_mode)
    app.connect("config-inited", check_mathjax_path)
    app.connect("build-finished", copy_mathjax)
    # after other handlers (default priority 500) have added their scripts
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
