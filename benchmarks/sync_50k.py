"""The 50,000-scene SYNC benchmark: benchmarks/sync.py with its defaults.

Usage: python benchmarks/sync_50k.py [--page-size 250]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync  # benchmarks/sync.py

if __name__ == "__main__":
    sys.argv[1:1] = ["--scenes", "50000"]
    sync.main()
