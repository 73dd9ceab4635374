"""Benchmarks: speed and memory of faxbridge against baselines measured in the same run (`make bench`)."""
