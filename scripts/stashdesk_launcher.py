"""Entry script of the frozen build (build_installer.spec): what ``python -m stashdesk`` does.

A console-less (windowed) executable on Windows or macOS has no stdout or
stderr (``sys.stdout is None``), and a command printing to it would crash;
there its output goes nowhere instead (use ``stashdesk-cli`` on Windows to
see it).
"""

import os
import sys


def main() -> int:
    if sys.stdout is None or sys.stderr is None:
        sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process' life
        sys.stdout = sys.stdout or sink
        sys.stderr = sys.stderr or sink
    from stashdesk.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
