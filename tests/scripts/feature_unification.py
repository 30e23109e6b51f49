#!/usr/bin/env python3
"""How many units `cargo run --bin edusync` builds that `cargo test --workspace`
cannot reuse (features differ, or a dependency of theirs does).

    python3 tests/scripts/feature_unification.py        # needs a nightly toolchain

Compares cargo's unit graphs for the two commands, nothing is built. With
crates/edusync-workspace-hack only the `edusync` binary itself differs (the
test command builds it as a test harness); docs/benchmarks.md ("Build times")
quotes the figure without it.
"""
import json
import subprocess
import sys


def unit_graph(args):
    command = ["cargo", "+nightly", *args, "--unit-graph", "-Z", "unstable-options"]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["units"]


def keys(units):
    """Each unit as what decides its artifact: itself and, recursively, its dependencies."""
    memo = [None] * len(units)

    def key(index):
        if memo[index] is None:
            unit = units[index]
            own = (
                unit["pkg_id"],
                unit["target"]["name"],
                tuple(unit["target"]["kind"]),
                tuple(sorted(unit["features"])),
                unit["mode"],
                unit["profile"]["opt_level"],
                str(unit["profile"].get("debuginfo")),
            )
            memo[index] = (own, tuple(sorted(key(dep["index"]) for dep in unit["dependencies"])))
        return memo[index]

    return [key(index) for index in range(len(units))]


def main():
    run = unit_graph(["build", "--bin", "edusync"])
    test = unit_graph(["test", "--workspace", "--no-run"])
    reusable = set(keys(test))
    rebuilt = [unit for unit, key in zip(run, keys(run)) if key not in reusable]
    print(f"cargo run builds {len(run)} units; cargo test cannot reuse {len(rebuilt)} of them")
    for name in sorted({unit["pkg_id"].rsplit("/", 1)[-1] for unit in rebuilt}):
        print(f"  {name}", flush=True)
    # Only the binary itself may differ.
    sys.exit(0 if all("edusync-cli" in unit["pkg_id"] for unit in rebuilt) else 1)


if __name__ == "__main__":
    main()
