"""Imports every daemon module so each registers itself with the DaemonManager.

One line per daemon; the order here is the order cards and listings show
(video_analysis, stash_sync, plan_applier, download_processor, stash_generation).
"""
# ruff: noqa: F401, I001 - imported for their registration, in display order

import stashdesk.daemons.stash_sync
import stashdesk.daemons.download_processor
import stashdesk.daemons.stash_generation
