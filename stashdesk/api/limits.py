"""Bounds on what callers may ask for, shared by the API and its clients."""

MAX_PAGE = 1000  # items in one page of a listing
SQLITE_MAX_INT = 2**63 - 1  # ids and counts beyond SQLite's INTEGER are refused, not overflowed
