"""Benchmarks, run on demand (make bench), never in CI."""
