"""Imports every job module so each registers its job type with the runner."""

import stashdesk.jobs.analysis
import stashdesk.jobs.apply_plan  # noqa: F401
