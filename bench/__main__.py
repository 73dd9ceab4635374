"""`python -m bench [NAME ...]`: run every benchmark (or the named ones) and print a summary table."""

from __future__ import annotations

import importlib
import sys

NAMES = ("intake", "attack", "memory", "queue", "ratelimit", "latency", "dkim", "postgres")


def main(argv: list[str]) -> int:
    chosen = argv or list(NAMES)
    unknown = [name for name in chosen if name not in NAMES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}", file=sys.stderr)
        return 2
    for name in chosen:
        importlib.import_module(f"bench.{name}").run()
    print("\nresults written to bench/results/*.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
