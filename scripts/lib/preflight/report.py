"""The preflight report: one ``Section`` per check (summary, failures, warnings), the ``Report`` that
prints them, and ``PreflightFailed``, the one-line stop of ``make train``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scripts.lib.recipe.cli import UserError


class PreflightFailed(UserError):
    """A hard preflight failure: the run would not learn. ``scripts/train.py`` prints it and exits 2."""


@dataclass
class Section:
    """One check's outcome: a summary line, what to fix (failures) and what to look at (warnings)."""

    name: str
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "FAIL" if self.failures else "warn" if self.warnings else "ok"


@dataclass
class Report:
    sections: list[Section]

    @property
    def failures(self) -> list[str]:
        return [f"{s.name}: {f}" for s in self.sections for f in s.failures]

    @property
    def warnings(self) -> list[str]:
        return [f"{s.name}: {w}" for s in self.sections for w in s.warnings]

    def section(self, name: str) -> Section:
        return next(s for s in self.sections if s.name == name)

    def render(self) -> str:
        lines = ["preflight"]
        for s in self.sections:
            lines.append(f"  {s.name:<10} {s.status:<4} {s.summary}")
            lines += [f"{'':16}FAIL: {f}" for f in s.failures]
            lines += [f"{'':16}warning: {w}" for w in s.warnings]
        if self.failures:
            verdict = (f"FAILED ({len(self.failures)} failure(s), {len(self.warnings)} warning(s)): "
                       "this run would not learn")
        else:
            verdict = f"passed ({len(self.warnings)} warning(s))"
        lines.append(f"preflight {verdict}")
        return "\n".join(lines)
