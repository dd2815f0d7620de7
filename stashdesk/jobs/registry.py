"""Imports every job module so each registers its job type with the runner."""
# ruff: noqa: F401 - imported for their registration

import stashdesk.jobs.analysis
import stashdesk.jobs.apply_plan
import stashdesk.jobs.process_downloads
import stashdesk.jobs.stash_identify
import stashdesk.jobs.stash_tasks
import stashdesk.jobs.sync
