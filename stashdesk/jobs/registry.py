"""Imports every job module so each registers its job type with the runner."""

import stashdesk.jobs.process_downloads
import stashdesk.jobs.stash_cli
import stashdesk.jobs.stash_tasks
import stashdesk.jobs.sync  # noqa: F401
