"""Helpers shared by the tests and the benchmarks: throwaway servers, settings, subprocesses.

Imported as ``support`` by both: pytest puts tests/ on sys.path (``pythonpath = ["tests"]``),
and bench/__init__.py does the same for the benchmarks.
"""
