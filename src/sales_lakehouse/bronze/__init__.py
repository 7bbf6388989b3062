"""Bronze layer, pure: landed CSV rows (``csv``) and sale-event records (``events``) as
bronze rows, every value as landed plus lineage. Reading the files is ``lake.landing``'s."""
