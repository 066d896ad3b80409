"""Licence, citation and findable outputs: what a reader needs to reuse, cite and download the book."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, check_schema

CFF = ROOT / "CITATION.cff"


def check_cff(path: Path):
    return check_schema(path, "vendor.citation-file-format")


def test_citation_cff_is_valid_citation_file_format():
    result = check_cff(CFF)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_citation_file_without_authors(tmp_path):
    broken = yaml.safe_load(CFF.read_text())
    del broken["authors"]
    broken["cff-version"] = "one"
    path = tmp_path / "CITATION.cff"
    path.write_text(yaml.safe_dump(broken))
    assert check_cff(path).returncode != 0


def test_citation_licence_and_package_agree():
    import tomllib

    cff = yaml.safe_load(CFF.read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["version"] == project["version"] and cff["license"] == project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "CC BY 4.0" in (ROOT / "LICENSE-CONTENT").read_text()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cff["url"] == config["html"]["baseurl"]
    assert cff["repository-code"] == config["repository"]["url"]
    assert cff["title"] == config["title"]
    # the paper it reproduces is cited beside it
    assert any("Variational Auto-Encoders on MNIST" in r["title"] for r in cff["references"])
    readme = (ROOT / "README.md").read_text()
    assert config["html"]["baseurl"] in readme and "CC BY 4.0" in readme


def test_the_first_page_cites_the_book_and_links_the_pdf_the_models_and_the_ledger(smoke_book_html):
    cff = yaml.safe_load(CFF.read_text())
    intro = (smoke_book_html / "book" / "intro.html").read_text()
    text = re.sub(r"<[^>]+>", "", intro)
    assert cff["title"] in text and f"version {cff['version']}" in text and cff["url"] in text
    assert "@software{vae_mnist_reproduced" in text
    assert "Gupta" in text and "CC BY 4.0" in text
    for href in ("../book.pdf", "../models.tar.gz", "../results.json"):
        assert f'href="{href}"' in intro, href
    runs = (smoke_book_html / "book" / "runs" / "index.html").read_text()
    assert 'href="../../models.tar.gz"' in runs
    # the licence is in every page's footer; the repository and issue buttons are on
    for page in (intro, runs):
        assert "creativecommons.org/licenses/by/4.0" in page
        assert "github.com/vae-mnist/vae-mnist/issues" in page
    # the paper's bibliography label has no "d." from "n.d."
    refs = re.sub(r"<[^>]+>", "", (smoke_book_html / "book" / "references.html").read_text())
    assert "[GRS]" in refs and "GRSd." not in refs
    assert (smoke_book_html / "results.json").is_file()
