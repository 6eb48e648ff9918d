"""Install LiteLLM's runtime requirements, its `proxy` extra's included, into the running virtualenv.

    var/litellm-venv/bin/python tests/bench/litellm_venv.py [--dry-run]

`make litellm-venv` installs litellm itself with --no-deps first (and `packaging`, which this
script needs and litellm requires anyway), then runs this with that virtualenv's interpreter,
so the markers are evaluated for the Python that will run the proxy. The requirements are
read from the installed wheel's METADATA rather than left to `pip install litellm[proxy]`
because a few of its pins cannot be met from the registry: pip's resolver would refuse the
whole set, while here those few are relaxed or skipped by name and the rest go in as declared.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import distribution

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

EXTRAS = ("proxy",)

# Taken at the newest release the registry has rather than at litellm's floor: a CA bundle has
# no API to break, and a mirror may not have caught up with the floor litellm sets.
NEWEST_AVAILABLE = {
    # litellm 1.109.1 asks for >=2026.10.19; on this registry only the post-release
    # 2026.10.19.post1 meets it.
    "certifi",
}

# Not installed at all: the proxy starts and serves the benchmark's /v1/images/generations without them.
SKIPPED = {
    # ==0.4.113 is pinned; the registry stops at 0.4.110. It carries the Prisma schema and
    # migrations for the proxy's database, and the benchmark runs the proxy without one.
    "litellm-proxy-extras",
}


def requirements(dist: str = "litellm", extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """The distribution's Requires-Dist lines that apply here, merged by project name."""
    merged: dict[str, Requirement] = {}
    for line in distribution(dist).requires or []:
        req = Requirement(line)
        # "" stands for the core requirements: a marker without `extra` evaluates the same.
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        name = canonicalize_name(req.name)
        if name in SKIPPED:
            continue
        req.marker = None
        if name in NEWEST_AVAILABLE:
            req.specifier = SpecifierSet()
        if (seen := merged.get(name)) is not None:
            # The same project listed for the core and for an extra: both bounds must hold.
            seen.specifier &= req.specifier
            seen.extras |= req.extras
        else:
            merged[name] = req
    return [str(req) for _, req in sorted(merged.items())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="resolve only, install nothing")
    parser.add_argument("--print", action="store_true", help="print the requirements and stop")
    args = parser.parse_args()
    reqs = requirements()
    if args.print:
        print("\n".join(reqs))
        return 0
    print(
        f"litellm_venv: skipped {', '.join(sorted(SKIPPED))} (not on the registry at the pinned version); "
        f"newest available of {', '.join(sorted(NEWEST_AVAILABLE))}",
        file=sys.stderr,
    )
    command = [sys.executable, "-m", "pip", "install", "--quiet", *(["--dry-run"] if args.dry_run else []), *reqs]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
