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

Enabled in ``_config.yml`` (``sphinx: extra_extensions``).
"""
from __future__ import annotations


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


def setup(app):
    app.connect("config-inited", default_colour_mode)
    # after other handlers (default priority 500) have added their scripts
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
