#!/usr/bin/env bash
# Fashion-MNIST for the book's Fashion-MNIST run (and the smoke build in the tests), run by
# `make book` and `make test`: Debian's package dataset-fashion-mnist puts the four IDX files in
# /usr/share/datasets/fashion-mnist, where vae_mnist.core.data looks for them. Nothing is done when that
# folder exists or VAE_MNIST_FASHION_DATA_DIR is set. Without apt-get (or root), the loader falls
# back to Keras's download (keras.datasets.fashion_mnist), which needs the internet: this script
# then only says so.
set -euo pipefail

DIR=/usr/share/datasets/fashion-mnist
if [ -n "${VAE_MNIST_FASHION_DATA_DIR:-}" ] || [ -f "$DIR/t10k-labels-idx1-ubyte.gz" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    echo "ensure-fashion: installing Debian's dataset-fashion-mnist with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if $SUDO apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null 2>&1 || \
       { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null; }; then
        exit 0
    fi
fi
echo "ensure-fashion: $DIR is missing and could not be installed; Fashion-MNIST will be downloaded" \
     "through Keras (needs the internet), or set VAE_MNIST_FASHION_DATA_DIR to a folder with its IDX files" >&2
