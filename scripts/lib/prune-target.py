#!/usr/bin/env python3
"""Drop stale build variants from a shared CARGO_TARGET_DIR.

Every clone path, helper worktree and flag set (codegen units, features, profiles) leaves its own
variant of each artifact in <profile>/deps, named <crate>-<16 hex hash>; cargo never removes the
old ones, and with one integration test binary at about 0.5 GB the directory filled a 92 GB disk
in two days. This keeps the newest KEEP variants of every artifact name and deletes the rest
(cargo rebuilds any it still needs), and removes the incremental caches.

usage: prune-target.py TARGET_DIR [KEEP]    (KEEP defaults to 2)
"""
import collections
import os
import re
import shutil
import sys

VARIANT = re.compile(r"^(.*?)-([0-9a-f]{16})(\..*)?$")


def prune(deps, keep):
    groups = collections.defaultdict(list)
    for name in os.listdir(deps):
        m = VARIANT.match(name)
        path = os.path.join(deps, name)
        if m and os.path.isfile(path):
            st = os.stat(path)
            groups[(m.group(1), m.group(3) or "")].append((st.st_mtime, st.st_size, path))
    freed = 0
    for variants in groups.values():
        variants.sort(reverse=True)
        for _, size, path in variants[keep:]:
            os.remove(path)
            freed += size
    return freed


def main():
    target = sys.argv[1]
    keep = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    freed = 0
    for profile in ("debug", "release"):
        deps = os.path.join(target, profile, "deps")
        if os.path.isdir(deps):
            freed += prune(deps, keep)
        incremental = os.path.join(target, profile, "incremental")
        if os.path.isdir(incremental):
            shutil.rmtree(incremental, ignore_errors=True)
    print(f"[prune-target] freed {freed / 1e9:.1f} GB of stale variants in {target}")


if __name__ == "__main__":
    main()
