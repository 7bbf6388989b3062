"""Tools around the pipeline, outside the package Glue and Lambda install: the AWS
deployment, the sample-data generator and the load-test event producer."""
