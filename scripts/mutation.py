"""`make mutation`: every deliberate breakage in support/mutation.py must make its guarding tests fail.

.venv/bin/python -m scripts.mutation [--only NAME ...] [--jobs N] [--list]
"""

import argparse
import sys

from support.mutation import BREAKAGES, PENDING, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.mutation", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only this breakage (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="breakages tested at once (default 2)")
    parser.add_argument("--list", action="store_true", help="list the breakages and their guarding tests")
    args = parser.parse_args(argv)
    if args.list:
        for b in BREAKAGES + PENDING:
            pending = " (pending)" if b in PENDING else ""
            print(f"{b.name}{pending}: breaks '{b.breaks}'\n  " + "\n  ".join(b.tests))
        return 0
    chosen = tuple(b for b in BREAKAGES if not args.only or b.name in args.only)
    unknown = set(args.only) - {b.name for b in BREAKAGES}
    if unknown:
        parser.error(f"unknown breakage {', '.join(sorted(unknown))} (see --list)")
    return 0 if check(chosen, jobs=args.jobs, log=lambda line: print(line, flush=True)) else 1


if __name__ == "__main__":
    sys.exit(main())
