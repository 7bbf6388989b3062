"""Data quality: row rules (``rules``), dataset-level checks (``checks``), their
evaluation into result records (``engine``, ``results``) and reports (``report``).

Everything here is pure: DataFrames and counts in, result records out. Reading the lake
and writing ``quality.dq_results`` is the pipeline's job (``pipeline/quality.py``).
"""
