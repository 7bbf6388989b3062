"""Build and deploy the AWS stack: ``sales-lakehouse package`` and ``sales-lakehouse deploy``.

Nothing here imports pyspark: building the artifacts and driving CloudFormation need only
the standard library, PyYAML and boto3. The modules need a checkout of the project (the
template, the job scripts and ``pyproject.toml`` are not in the wheel).
"""
