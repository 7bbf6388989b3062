"""sales-lakehouse: a PySpark + Delta Lake sales lakehouse."""

__version__ = "0.1.0"
