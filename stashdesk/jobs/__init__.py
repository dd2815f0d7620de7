"""Jobs: finite work with progress, run by the JobRunner."""
