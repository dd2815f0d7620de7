"""Imports every daemon module so each registers itself with the DaemonManager.

One line per daemon; the order here is the order cards and listings show.
"""
# ruff: noqa: F401, I001 - imported for their registration, in display order

import stashdesk.daemons.video_analysis
import stashdesk.daemons.stash_sync
import stashdesk.daemons.plan_applier
import stashdesk.daemons.download_processor
import stashdesk.daemons.stash_generation
