"""Imports every job module so each registers its job type with the runner."""
import stashdesk.jobs.process_downloads  # noqa: F401
