"""The sales dashboard: the gold marts as charts (docs/dashboard.md).

:mod:`.views` holds the SQL both Spark (locally) and Athena (views on AWS) run;
:mod:`.page` turns query results into one self-contained HTML page. Neither imports Spark;
``pipeline/dashboard.py`` runs the queries.
"""
