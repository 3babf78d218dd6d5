"""Benchmarks: `python -m scripts.bench.<name>`, each behind a `make bench-<name>` target."""
