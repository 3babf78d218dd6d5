"""One way to print while training: through tqdm, so a message never lands on the progress bar's line.

A plain ``print`` during training writes after the bar's last frame (``83%|████▎| 10/12 [...]health
alarm at step 10: ...``); ``tqdm.write`` clears the bar, writes the line and draws the bar again below
it. Without a bar it is a plain print. Every callback message (health alarms, the aha step, step
lines, held-out scores) goes through ``say``.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from scripts.lib.process.distributed import is_main


def say(line: str, file=None) -> None:
    """Print ``line`` on its own line, above the training bar when one is showing; on rank 0 only
    when several processes share the terminal.

    >>> say("health alarm at step 2: ...")
    health alarm at step 2: ...
    """
    if not is_main():
        return
    out = file if file is not None else sys.stdout
    tqdm.write(line, file=out)
    out.flush()
