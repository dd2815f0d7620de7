"""The desktop window. Everything in StashDesk that imports Qt lives in this package.

Importing it applies the PySide6 work-arounds in ``pyside_fixes`` (when needed).
"""

from stashdesk.ui import pyside_fixes

pyside_fixes.install()
