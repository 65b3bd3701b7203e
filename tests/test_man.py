"""The manual pages: scripts/man writes roff from docs/man/*.md; mandoc's linter, groff with
every warning on and ``man -l`` render each page without a complaint, and the sources
keep up with the features and commands they describe."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from netsentinel.cli import importers
from netsentinel.features import load_features
from tests.lab import ROOT, require

PAGES = {"netsentinel.8", "netsentinel-ctl.8", "netsentinel.yaml.5"}
SOURCES = ROOT / "docs" / "man"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("man")
    result = subprocess.run([str(ROOT / "scripts" / "man"), str(out)], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return {path.name: path for path in out.iterdir()}


def test_one_page_per_source(pages: dict[str, Path]) -> None:
    assert set(pages) == PAGES
    assert {path.stem for path in SOURCES.glob("*.md")} == PAGES


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_passes_mandoc_lint_and_groff_warnings(pages: dict[str, Path], name: str) -> None:
    require("mandoc", "groff", "man")
    lint = subprocess.run(["mandoc", "-Tlint", "-W", "warning", str(pages[name])],
                          capture_output=True, text=True, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
    groff = subprocess.run(["groff", "-ww", "-z", "-man", str(pages[name])],
                           capture_output=True, text=True, check=False)
    assert (groff.returncode, groff.stdout + groff.stderr) == (0, "")


@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_renders_the_page(pages: dict[str, Path], name: str) -> None:
    require("man")
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MAN_KEEP_FORMATTING="")
    result = subprocess.run(["man", "--warnings", "-l", str(pages[name])], capture_output=True,
                            text=True, check=False, env=env)
    assert (result.returncode, result.stderr) == (0, "")
    title, section = name.rsplit(".", 1)
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{title.upper()}({section})"), first
    assert "NAME" in result.stdout and "SEE ALSO" in result.stdout
    assert "\\f" not in result.stdout and "`" not in result.stdout   # no markup left over


def test_yaml_page_names_every_feature_section() -> None:
    text = (SOURCES / "netsentinel.yaml.5.md").read_text()
    for key in [feature.key for feature in load_features()] + ["control", "actions"]:
        assert f"\n`{key}`\n:   " in text, key


def test_ctl_page_names_every_local_command_and_import_tool() -> None:
    text = (SOURCES / "netsentinel-ctl.8.md").read_text()
    for command in ("status", "help", "ping", "version", "reload", "update", "metrics",
                    "watch", "check-config", "import"):
        assert f"\n`{command}`" in text, command
    for tool in importers.TOOLS:
        assert f"`{tool}`" in text, tool
