#!/usr/bin/env bash
# Set-up for the real-browser test (tests/test_browser.py), run by `make test` before pytest:
#   * Debian's Chromium at /usr/bin/chromium (packages chromium + chromium-driver), via apt-get;
#   * Playwright's Python package in the virtual environment. Playwright drives that Chromium
#     (executable_path); it never downloads a browser of its own;
#   * axe-core (the accessibility engine the browser test runs on every page), the npm package at the
#     version pinned below, into $VENV/share/axe-core (needs npm; nothing is fetched at test time).
# Usage: scripts/ensure-browser.sh [VENV]   (default .venv). Set VAE_MNIST_CHROMIUM to use
# another Chromium-based browser binary instead (then nothing is installed with apt-get).
set -euo pipefail

VENV="${1:-.venv}"
CHROMIUM="${VAE_MNIST_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
    if [ -n "${VAE_MNIST_CHROMIUM:-}" ]; then
        echo "ensure-browser: VAE_MNIST_CHROMIUM=$CHROMIUM is not an executable" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-browser: $CHROMIUM is missing and apt-get is not available; install Chromium" \
             "or point VAE_MNIST_CHROMIUM at a Chromium binary" >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "ensure-browser: need root (or sudo) to apt-get install chromium" >&2
            exit 1
        fi
    fi
    echo "ensure-browser: installing Debian's chromium and chromium-driver with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
    [ -x "$CHROMIUM" ] || { echo "ensure-browser: $CHROMIUM still missing after apt-get" >&2; exit 1; }
fi

if ! "$VENV/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "ensure-browser: installing Playwright's Python package into $VENV (no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/pip" install --quiet "playwright>=1.40,<2"
fi

AXE_VERSION="4.10.3"
AXE_DIR="$VENV/share/axe-core"
if [ ! -f "$AXE_DIR/$AXE_VERSION/axe.min.js" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "ensure-browser: npm is needed once to vendor axe-core $AXE_VERSION (apt-get install npm)" >&2
        exit 1
    fi
    echo "ensure-browser: vendoring axe-core $AXE_VERSION (npm) into $AXE_DIR"
    tmp="$(mktemp -d)"
    npm install --silent --no-audit --no-fund --no-save --prefix "$tmp" "axe-core@$AXE_VERSION" >/dev/null
    mkdir -p "$AXE_DIR/$AXE_VERSION"
    cp "$tmp/node_modules/axe-core/axe.min.js" "$tmp/node_modules/axe-core/LICENSE" "$AXE_DIR/$AXE_VERSION/"
    rm -rf "$tmp"
fi
