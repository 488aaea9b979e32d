"""Fifty random kills of the bot during a 20-patient crisis storm: stalls, losses, duplicates.

The real `pmp run` process is killed (SIGKILL) at a random moment of each round, while every
patient writes a crisis message and answers the question that follows, then started again.
Run: .venv/bin/python benchmarks/kill_storm.py [--kills 50] [--database-url URL]
(SQLite in a temporary folder unless a database URL is given; PostgreSQL is reset first).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import _migrate
from tests.e2e.kill_storm import run_storm


def main() -> None:
    """Run the storm and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kill-storm-"))
    url = args.database_url or f"sqlite+aiosqlite:///{folder}/storm.db"
    _migrate(url, reset_postgres=url.startswith("postgresql"))
    result = asyncio.run(run_storm(url, folder, kills=args.kills, patients=args.patients))
    print(result.summary())


if __name__ == "__main__":
    main()
