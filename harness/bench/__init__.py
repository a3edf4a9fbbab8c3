"""Benchmarks (`python -m harness.bench`): figures measured here and written to a file, never asserted."""
