"""The pins of constraints.txt: every installed distribution the kit's requirements ([dev] included) pull in.

`make upgrade` writes constraints.txt from this, not from `pip freeze` of the whole venv: a package
someone installed by hand next to the kit (cwevals, a wandb for one experiment) is not one of the
kit's pins. torch and its CUDA libraries are left out: TORCH_SPEC chooses them (see Makefile).

    .venv/bin/python .ci/kit_pins.py          # name==version, one a line, sorted
"""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

KIT = "r1-zero-aha"
EXTRAS = ("dev",)
LEFT_OUT = re.compile(r"^(torch|triton|nvidia-.*|pip|setuptools|wheel)$")  # chosen elsewhere, or pip's own


def requirement_closure(name: str = KIT, extras=EXTRAS) -> dict[str, str]:
    """{canonical name: "Name==version" as installed} of everything ``name[extras]`` requires, transitively."""
    found: dict[str, str] = {}
    todo = [(name, tuple(extras))]
    while todo:
        dist_name, dist_extras = todo.pop()
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed here: nothing to pin
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (*dist_extras, "")):
                continue
            key = canonicalize_name(req.name)
            if key in found:
                continue
            try:
                dep = metadata.distribution(req.name)
            except metadata.PackageNotFoundError:
                continue
            found[key] = f"{dep.metadata['Name']}=={dep.version}"  # spelled as pip freeze spells it
            todo.append((req.name, tuple(req.extras)))
    return found


def kit_pins() -> list[str]:
    return sorted((pin for name, pin in requirement_closure().items() if not LEFT_OUT.match(name)), key=str.lower)


if __name__ == "__main__":
    print("\n".join(kit_pins()))
