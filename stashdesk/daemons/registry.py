"""Imports every daemon module so each registers itself with the DaemonManager.

One line per daemon; the order here is the order cards and listings show.
"""
# ruff: noqa: I001 - registration order, not alphabetical order
import stashdesk.daemons.video_analysis
import stashdesk.daemons.plan_applier  # noqa: F401
