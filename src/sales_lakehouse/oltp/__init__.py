"""The operational database source: its connection string and the service that fills it.

Pure Python (no Spark): ``fill`` also runs as a Lambda function. The extract that copies
the database into the landing zone is Spark's (``pipeline/extract.py``, ``lake/jdbc.py``).
"""
