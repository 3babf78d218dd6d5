"""constraints.txt pins the kit's requirements and nothing else (a package installed by hand next to
the kit, like cwevals, is not one of its pins), from the one list `make upgrade` writes it from."""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata

import pytest

from conftest import ROOT


def _kit_pins_module():
    spec = importlib.util.spec_from_file_location("kit_pins", ROOT / ".ci" / "kit_pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _names(lines) -> set[str]:
    return {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in lines
            if line.strip() and not line.startswith("#")}


def test_constraints_pin_exactly_the_kits_installed_requirements():
    kit_pins = _kit_pins_module()
    try:
        metadata.distribution(kit_pins.KIT)
    except metadata.PackageNotFoundError:
        pytest.skip("the kit is not installed in this environment (make setup): its requirements are unknown")
    pinned = _names((ROOT / "constraints.txt").read_text().splitlines())
    wanted = _names(kit_pins.kit_pins())
    assert not pinned - wanted, f"pinned but not required by the kit: {sorted(pinned - wanted)}"
    assert not wanted - pinned, f"required by the kit but not pinned: {sorted(wanted - pinned)}"


def test_make_upgrade_writes_the_pins_from_that_list():
    makefile = (ROOT / "Makefile").read_text()
    upgrade = makefile.split("\nupgrade:", 1)[1].split("\n\n", 1)[0]
    assert ".ci/kit_pins.py" in upgrade and "pip freeze --exclude-editable" not in upgrade
