"""Benchmark harness: our engine against Automerge, Yjs and Loro on real editing traces.

``python -m bench`` runs every (trace, engine, mode) in its own worker subprocess and
prints a table; see docs/benchmarks.md for the method.
"""
