"""Benchmarks and quality measurements (not part of the test run): `make bench`."""
