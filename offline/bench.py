"""`make bench`: how long the offline plan of a stack takes, next to the floor of importing the three provider SDKs.

Usage: python -m offline.bench [STACK] [--runs N]   (default: prod, 3 runs)

Runs, alternately and each in a fresh interpreter, `python -c "import pulumi_gcp, pulumi_cloudflare, pulumi_docker"`
(what any program of this project pays before it registers anything) and `python -m offline.plan STACK`, and prints
the best wall-clock and CPU time of each and their ratio. The goal is a plan within 2x of the floor. Speed is measured
here, never asserted by a test: on a shared machine a timing says as much about the neighbours as about the code.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from offline.engine import ROOT

FLOOR = "import pulumi_gcp, pulumi_cloudflare, pulumi_docker"


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system seconds of the child process


def timed(command: list[str]) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timing(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def best(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.bench", description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", default="prod")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv[1:])
    floors, plans = [], []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.runs):
            floors.append(timed([sys.executable, "-c", FLOOR]))
            plans.append(timed([sys.executable, "-m", "offline.plan", args.stack, "--out", out]))
    floor, plan = best(floors), best(plans)
    print(f"SDK import floor ({FLOOR}): {floor.wall:.2f} s wall, {floor.cpu:.2f} s CPU")
    print(
        f"offline plan of {args.stack} (python -m offline.plan {args.stack}):"
        f" {plan.wall:.2f} s wall, {plan.cpu:.2f} s CPU"
    )
    print(
        f"ratio plan / floor: {plan.wall / floor.wall:.2f}x wall, {plan.cpu / floor.cpu:.2f}x CPU"
        f" (best of {args.runs} runs each, alternating; goal: within 2x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
