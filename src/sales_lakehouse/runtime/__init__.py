"""What runs the pipeline: the Spark session, the job entry helper and the CLI."""
