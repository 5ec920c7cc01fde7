"""Helpers shared by the test suite (and the benchmarks), one concern per module.

Fault-test machinery that only tests/faults uses lives next to those tests.
"""
