"""What the benches share: the clock they time with, items per second, the first-call/steady time
of one call, and the targets line (``met`` / ``MISSED``) they end with."""

from __future__ import annotations

import time

# CPU time of this process by default: on a shared machine, wall time mostly measures the other
# processes (a 0.1 s batch of ours can wait 0.5 s for a core; TRL's 30 s run averages that out).
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
_clock = [CLOCKS["cpu"]]


def use_clock(name: str) -> None:
    """Time with ``name`` (a key of CLOCKS) from now on."""
    _clock[0] = CLOCKS[name]


def clock() -> float:
    """The current reading of the clock chosen with ``use_clock`` (CPU time unless told otherwise)."""
    return _clock[0]()


def items_per_s(n: int, seconds: float) -> float:
    """
    >>> items_per_s(10, 2.0), items_per_s(10, 0.0)
    (5.0, inf)
    """
    return n / seconds if seconds > 0 else float("inf")


def first_and_steady_ms(call, repeats: int = 3) -> tuple[float, float]:
    """(first call ms, steady ms): the first call pays one-time costs; the steady time is the fastest
    of ``repeats`` later calls, so a busy machine's scheduling pauses do not count as the call's cost."""
    times = []
    for _ in range(1 + repeats):
        started = clock()
        call()
        times.append((clock() - started) * 1000)
    return times[0], min(times[1:])


def print_targets(targets) -> bool:
    """Print each ``(label, met, value)`` of a bench as ``met`` or ``MISSED`` (never hidden); True if all are met."""
    all_met = True
    for label, met, value in targets:
        all_met &= bool(met)
        print(f"  {'met   ' if met else 'MISSED'}  {label}: {value}")
    return all_met
