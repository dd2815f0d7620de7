"""The desktop window. Everything in StashDesk that imports Qt lives in this package."""
