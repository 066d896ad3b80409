#!/usr/bin/env bash
# The browser checks of tests/test_browser.py on any built book folder, with screenshots kept.
#
#   scripts/check-book.sh [HTML_DIR] [SCREENSHOT_DIR]     (defaults: _build/html, _build/screenshots)
#
# Opens every page in headless Chromium, light and dark, with every request to another host
# blocked, and fails on any such request, a console error, an image that did not load, an equation
# MathJax did not typeset, a second search field, a transparent figure or low-contrast explorer
# text; checks the run pages' download links and the explorers against the Keras models of the
# run cache ($VAE_MNIST_CACHE_DIR, default .cache/runs). Screenshots of three pages and the first
# run page, light and dark, go to SCREENSHOT_DIR. Prints pages, images, equations and the count
# of requests to other hosts (must be 0).
set -euo pipefail

HTML="${1:-_build/html}"
SHOTS="${2:-_build/screenshots}"
VENV="${VENV:-.venv}"
[ -f "$HTML/index.html" ] || { echo "check-book: no built book at $HTML (run make book)" >&2; exit 2; }

"$(dirname "$0")/ensure-browser.sh" "$VENV"
mkdir -p "$SHOTS"
VAE_MNIST_BOOK_HTML="$(cd "$HTML" && pwd)" VAE_MNIST_SCREENSHOTS="$(cd "$SHOTS" && pwd)" \
    "$VENV/bin/python" -m pytest tests/test_browser.py -q -s -p no:cacheprovider
