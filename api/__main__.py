"""``python -m api``: serve the query API (and ``python -m api keys …`` to manage API keys)."""

from __future__ import annotations

import sys

from api.cli import main

if __name__ == "__main__":
    sys.exit(main())
