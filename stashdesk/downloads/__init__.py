"""Placing finished downloads in the library: safety checks, links, copies, durations.

Everything in this package is blocking (file system, subprocesses) and free of
asyncio: the PROCESS_DOWNLOADS job runs it on worker threads.
"""
