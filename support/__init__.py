"""Support for the tests, the benchmarks and the scripts (not part of the product): media with known
content, a decode counter, private Dagster instances, a running UI, tiny vision-language models.

It imports the product packages; the product never imports it. tests/, bench/ and scripts/ import
from here and not from each other.
"""
