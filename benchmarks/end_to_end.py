"""Whole processes, as a user runs them: one photo through the command line, and a folder of photos.

    python benchmarks/end_to_end.py                  # ~10 minutes on 2 cores: a markdown report
    python benchmarks/end_to_end.py --quick          # small and few, to check the script
    python benchmarks/end_to_end.py --json e2e.json  # also the numbers
    python benchmarks/end_to_end.py --startup-only   # start-up and PNG writing alone (a minute)

What is measured and how: benchmarks/whole_processes.py (benchmarks/speed.py runs the same measurements).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from whole_processes import measure, measure_startup, report, startup_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and few (checks the script)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers here")
    parser.add_argument("--startup-only", action="store_true", help="only start-up and PNG writing (a minute)")
    args = parser.parse_args()
    command = "python benchmarks/end_to_end.py" + " ".join(sys.argv[1:]).join([" ", ""]).rstrip()
    result = (measure_startup if args.startup_only else measure)(args.quick, command)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.startup_only:
        print(f"{result['date']}. Command: `{command}`.\n\n{startup_report(result)}")
    else:
        print(report(result))


if __name__ == "__main__":
    main()
