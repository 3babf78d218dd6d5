"""The docs say only true things that a test can check: README's length, every repo path and link the
docs and module docstrings name exists, every commit the measured results cite is in the history."""

from __future__ import annotations

import ast
import re
import subprocess

import pytest

from conftest import ROOT

README_MAX_LINES = 300  # the depth lives in docs/, recipes/README.md and RESULTS.md (issue 37)
DOCS = ["README.md", "RESULTS.md", "recipes/README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
# Repo paths as the docs write them: scripts/..., recipes/..., tests/..., data/..., rewards/..., docs/...
# A path right after `/` or `../` is outside the repo (../shared/data/gsm8k); one with a `<placeholder>`
# is a pattern, and one ending in `*` a glob.
PATH = re.compile(r"(?<![\w./-])((?:scripts|recipes|tests|data|rewards|docs)/[\w./-]*[\w*]|"
                  r"(?:scripts|recipes|tests|data|rewards|docs)/[\w./-]*<[^>\s]*>[\w./<>-]*)")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
SHA = re.compile(r"(?<![\w.-])([0-9a-f]{7,40})(?![\w-]|\.\w)")


def test_readme_is_at_most_300_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


def _texts_naming_paths():
    """Makefile, the READMEs, docs/ and every module docstring of the kit's code and tests. Not RESULTS.md:
    it records runs at past commits, with the paths they had then (its header says so)."""
    for name in ["Makefile", "README.md", "recipes/README.md", *DOCS[3:]]:
        yield name, (ROOT / name).read_text(encoding="utf-8")
    for folder in ("scripts", "rewards", "data", "tests"):
        for py in sorted((ROOT / folder).rglob("*.py")):
            doc = ast.get_docstring(ast.parse(py.read_text(encoding="utf-8")), clean=False)
            if doc:
                yield str(py.relative_to(ROOT)), doc


def named_paths(text: str) -> list[str]:
    """The repo paths a text names, patterns (`<run>`, `qwen*`) left as written.

    >>> named_paths("see recipes/sources/sources.yaml, ../shared/data/gsm8k and outputs/x; recipes/qwen* tests/<x>.py.")
    ['recipes/sources/sources.yaml', 'recipes/qwen*', 'tests/<x>.py']
    """
    return [m.group(1).rstrip(".") for m in PATH.finditer(text)]


def test_every_repo_path_the_docs_and_docstrings_name_exists():
    missing = []
    for name, text in _texts_naming_paths():
        for path in named_paths(text):
            if "<" in path:
                continue  # a placeholder: make checkpoints RUN=<run>
            found = list(ROOT.glob(path)) if "*" in path else [ROOT / path] if (ROOT / path).exists() else []
            if not found:
                missing.append(f"{name}: {path}")
    assert not missing, "paths named but not in the repo:\n" + "\n".join(missing)


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for name in DOCS:
        for target in LINK.findall((ROOT / name).read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not ((ROOT / name).parent / target).exists():
                broken.append(f"{name}: ({target})")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def cited_commits(text: str) -> list[str]:
    """Hex words of 7-40 characters with a letter and a digit, that are not numbers (1e999999).

    >>> cited_commits("at 7bc793b (RESULTS.md), 1e999999, 2026-12-05, key 0.482, on 92a201f.")
    ['7bc793b', '92a201f']
    """
    out = []
    for word in SHA.findall(text):
        if not (re.search(r"[a-f]", word) and re.search(r"\d", word)):
            continue
        try:
            float(word)
            continue
        except ValueError:
            out.append(word)
    return out


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


def test_every_commit_the_docs_cite_is_in_the_history():
    shallow = _git("rev-parse", "--is-shallow-repository")
    if shallow.returncode != 0:
        pytest.skip("not a git checkout: no history to check the cited commits against")
    if shallow.stdout.strip() == "true":
        pytest.skip("a shallow clone holds only recent commits: the cited ones may be older")
    missing = [f"{name}: {sha}" for name in DOCS for sha in cited_commits((ROOT / name).read_text(encoding="utf-8"))
               if _git("merge-base", "--is-ancestor", sha, "HEAD").returncode != 0]
    # Ancestry of HEAD, not mere presence: a commit left behind by a rebase lives on in the
    # author's object store (and a local clone's other branches) but not in CI's clone of main.
    assert not missing, "commits cited but not in HEAD's history:\n" + "\n".join(missing)
