"""Benchmarks: entry points (`python -m scripts.bench.<name>`, each behind `make bench-<name>`)."""
