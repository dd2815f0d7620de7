"""Imports every job module so each registers its job type with the runner."""
# ruff: noqa: F401 - imported for their registration

# The `stashdesk plans` commands ride along: they launch APPLY_PLAN jobs.
import stashdesk.analysis.commands
import stashdesk.jobs.analysis
import stashdesk.jobs.apply_plan
import stashdesk.jobs.process_downloads
import stashdesk.jobs.stash_tasks
import stashdesk.jobs.sync
