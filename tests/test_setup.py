"""Set-up: `make train`/`make test` create the venv on first use, installs are pinned by
constraints.txt, and installing the kit puts no top-level package into site-packages.

Everything here reads files or asks `make -n` (print the commands, run nothing): no install."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def dry_run(*args):
    out = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout


@pytest.mark.parametrize("target", ["train", "test"])
def test_first_use_creates_the_venv_and_installs_pinned(tmp_path, target):
    # A venv that does not exist yet: the target builds it, then installs under the constraints.
    venv = tmp_path / "venv"
    out = dry_run(target, f"VENV={venv}")
    assert f"-m venv {venv}" in out
    assert '-m pip install -c constraints.txt -e ".[dev]"' in out
    assert f"touch {venv}/.installed" in out


def _phony_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return sorted({t for line in re.findall(r"^\.PHONY:(.*)$", text, re.M) for t in line.split()})


# help and clean run no Python; setup is the install itself (test below).
@pytest.mark.parametrize("target", [t for t in _phony_targets() if t not in ("help", "clean", "setup")])
def test_every_target_works_as_the_first_command_on_a_fresh_clone(tmp_path, target):
    # Each target that runs the kit installs it first: nothing from the venv runs before the stamp.
    venv = tmp_path / "venv"
    lines = dry_run(target, f"VENV={venv}", "RUN=r", "CKPT=c", "OUT=o").splitlines()
    done = [i for i, line in enumerate(lines) if line == f"touch {venv}/.installed"]
    uses = [i for i, line in enumerate(lines) if f"{venv}/bin/" in line and "pip install" not in line]
    assert uses, f"make {target} runs nothing from the venv: {lines}"
    assert done and done[0] < uses[0], f"make {target} runs the kit before installing it: {lines}"


def test_installed_venv_is_not_installed_again(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    stamp = venv / ".installed"
    stamp.touch()
    newer = max(os.path.getmtime(ROOT / f) for f in ("pyproject.toml", "constraints.txt")) + 10
    os.utime(stamp, (newer, newer))
    out = dry_run("test", f"VENV={venv}")
    assert "pip install" not in out
    assert "pytest" in out


def test_setup_always_installs_and_lock_can_be_dropped(tmp_path):
    venv = tmp_path / "venv"
    out = dry_run("setup", f"VENV={venv}", "TORCH_SPEC=torch")
    assert '-m pip install "torch" -c constraints.txt' in out
    assert '-c constraints.txt -e ".[dev]"' in out
    unpinned = dry_run("setup", f"VENV={venv}", "LOCK=")
    assert "-c " not in unpinned


def test_constraints_pin_exact_versions_and_leave_torch_to_torch_spec():
    lines = [
        line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert lines, "constraints.txt pins nothing"
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", line), f"not an exact pin: {line!r}"
    names = {line.split("==")[0].lower() for line in lines}
    assert "torch" not in names  # TORCH_SPEC chooses torch (CPU build, or TORCH_SPEC=torch on a GPU)
    assert "r1-zero-aha" not in names
    assert {"trl", "transformers", "pytest"} <= names


def test_the_distribution_installs_no_top_level_packages():
    # `pip install -e .` must not put generic names (data, scripts, rewards) into site-packages.
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^\[tool\.setuptools\]\s*\npackages = \[\]", text, re.M)
    assert "packages.find" not in text


def test_make_help_lists_every_target():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout
    missing = [t for t in _phony_targets() if t != "help" and not re.search(rf"^make {re.escape(t)}( |$)", shown, re.M)]
    assert missing == []
