"""The benchmarks and the GPU check: entry points (``python -m scripts.bench.<name>``, each behind a
``make bench-<name>`` / ``make gpu-check`` target) with the helpers only they use. The training
library (``scripts/lib/``), ``data/`` and ``rewards/`` never import this package."""
