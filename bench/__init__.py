"""``make bench``: how fast the pipeline runs, what increments cost, and whether it is right.

Run with ``python -m bench --scale N``; see docs/benchmark.md.
"""
