"""Benchmarks of the pipeline's parts, each runnable as ``python -m ops.bench.<name>``."""
