"""Imports every daemon module so each registers itself with the DaemonManager.

One line per daemon; the order here is the order cards and listings show.
"""
import stashdesk.daemons.download_processor  # noqa: F401
