"""Measurements of completions that training, evaluation and the base audit all read the same way.

``trace_grammar`` holds the words of the Countdown search trace and its one reader; ``reflection``
turns completions into the aha measures (self-check share, honest checks, final ``ok`` true, ...);
``stops`` says why a search's final ``ok`` is false (comparison, arithmetic, other) or its answer
differs from the confirmed try;
``aha`` finds the aha step in a run's logged curves. Pure functions over text and numbers: no
model, no files.
"""
