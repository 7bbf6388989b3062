"""Bronze -> silver transforms: typed, validated, deduplicated, one module per dataset."""
