"""`backup restore`: a guarded restore of a backup in place of the live databases, and its clean-up."""
