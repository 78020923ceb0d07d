"""Helpers shared by the tests and the benchmarks: throwaway servers, settings, subprocesses.

Imported as ``support`` (pytest: ``pythonpath = ["tests"]``), or ``tests.support`` from the
benchmarks, so modules here import each other relatively.
"""
