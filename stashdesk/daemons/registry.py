"""Imports every daemon module so each registers itself with the DaemonManager.

One line per daemon. Cards and listings follow each daemon's ``display_order``, so the
order of these lines does not matter.
"""
# ruff: noqa: F401, I001 - imported for their registration

import stashdesk.daemons.video_analysis
import stashdesk.daemons.stash_sync
import stashdesk.daemons.plan_applier
import stashdesk.daemons.download_processor
import stashdesk.daemons.stash_generation
