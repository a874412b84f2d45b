"""Exits 0 when this Python has exactly the versions that a hashed requirements lock pins.

Usage: python tools/lock_check.py tools/requirements.txt
Prints the first difference (missing, or another version) to stderr and exits 1 otherwise.
"""

import re
import sys
from importlib import metadata

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(lock_path: str) -> int:
    with open(lock_path, encoding="utf-8") as lock:
        pins = dict((normal(m[1]), m[2]) for m in map(PIN.match, lock) if m)
    if not pins:
        print(f"{lock_path} pins nothing", file=sys.stderr)
        return 1
    installed = {normal(d.metadata["Name"]): d.version for d in metadata.distributions()}
    for name, version in sorted(pins.items()):
        have = installed.get(name)
        if have != version:
            print(f"{name}: the lock pins {version}, .venv has {have or 'nothing'}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
