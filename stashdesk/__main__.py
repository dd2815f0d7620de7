"""``python -m stashdesk`` and the ``stashdesk`` command."""

import sys

from stashdesk.cli import main

if __name__ == "__main__":
    sys.exit(main())
