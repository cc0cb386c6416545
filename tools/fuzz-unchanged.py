#!/usr/bin/env python3
"""Has the code a fuzz binary is built from changed between two commits?

    tools/fuzz-unchanged.py [--build BUILD_DIR] TARGET COMMIT [COMMIT2]

tests/fuzz/long-runs.md adds up runs of a target made on different commits; a
count holds only while the code the target runs has not changed. This prints
the source files of the binary BUILD_DIR/tests/fuzz/TARGET (default build
directory: build-fuzz) that differ between COMMIT and COMMIT2 (default HEAD).
The files of a binary are its compile units (from its DWARF, read with
readelf), every header those units included when they were compiled (from
the build's dependency log, `ninja -t deps`) and, for a unit generated in the
build directory (the embedded SQL schema), the files it is generated from
(`ninja -t query`); system headers are left out. Needs a Ninja build.

Exit status: 0 when none of them changed, 1 when some did (they are listed),
2 on a usage or tool error. A file compiled into the binary is not necessarily
reached from the target's entry point: a change the target cannot reach leaves
its count valid, but saying so needs reading the code.
"""
import argparse
import os
import re
import subprocess
import sys


def run(argv, cwd=None):
    try:
        return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"fuzz-unchanged: {argv[0]} is not installed")
    except subprocess.CalledProcessError as e:
        sys.exit(f"fuzz-unchanged: {' '.join(argv)} failed: {e.stderr.strip()}")


def compile_units(binary):
    """Absolute paths of the binary's compile units."""
    units, attrs = [], None  # attrs: the attributes of the unit being read
    for line in run(["readelf", "--debug-dump=info", binary]).splitlines():
        if "DW_TAG_" in line:  # a unit's own attributes come before its first child
            attrs = {} if "DW_TAG_compile_unit" in line else None
            if attrs is not None:
                units.append(attrs)
        elif attrs is not None:
            m = re.search(r"DW_AT_(name|comp_dir)\s*:\s*(?:\([^)]*\):\s*)?(.*)$", line)
            if m:
                attrs.setdefault(m.group(1), m.group(2).strip())
    return {os.path.normpath(os.path.join(u.get("comp_dir", ""), u["name"]))
            for u in units if "name" in u}


def header_deps(build):
    """Object file -> the absolute paths it was compiled from (source and headers)."""
    deps, current = {}, None
    for line in run(["ninja", "-C", build, "-t", "deps"]).splitlines():
        if line and not line[0].isspace():
            current = line.split(":", 1)[0] if ": #deps" in line else None
            if current:
                deps[current] = []
        elif current and line.strip():
            deps[current].append(os.path.normpath(os.path.join(build, line.strip())))
    return deps


def generated_inputs(build, path):
    """The files a generated source is made from: the direct inputs of the build
    step that writes it (`ninja -t query`), order-only ones left out."""
    out = run(["ninja", "-C", build, "-t", "query", os.path.relpath(path, build)])
    inputs, in_input = [], False
    for line in out.splitlines():
        if line.strip().startswith("input:"):
            in_input = True
        elif line.strip().startswith("outputs:"):
            in_input = False
        elif in_input and line.startswith("    ") and not line.strip().startswith("||"):
            inputs.append(os.path.normpath(os.path.join(build, line.strip().lstrip("| "))))
    return inputs


def main():
    parser = argparse.ArgumentParser(
        usage="%(prog)s [--build BUILD_DIR] TARGET COMMIT [COMMIT2]",
        description=__doc__,
        epilog="example: tools/fuzz-unchanged.py fuzz_http1 5bb0d7b 22cb1ec",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build-fuzz", help="the fuzz build directory")
    parser.add_argument("target", help="a fuzz target, e.g. fuzz_http1")
    parser.add_argument("commit", help="the commit a count was made on")
    parser.add_argument("commit2", nargs="?", default="HEAD", help="the commit to compare with")
    args = parser.parse_args()

    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(args.build)
    binary = os.path.join(build, "tests", "fuzz", args.target)
    if not os.path.isfile(binary):
        print(f"fuzz-unchanged: no {binary}: build it with tools/fuzz.sh {args.build} 0",
              file=sys.stderr)
        return 2
    units = compile_units(binary)
    files = set(units)
    for sources in header_deps(build).values():
        if any(s in units for s in sources[:3]):  # the source comes first, after ignore lists
            files.update(sources)
    for f in units:
        if f.startswith(build + os.sep):  # a generated unit: what it is made from
            files.update(generated_inputs(build, f))
    ours = {os.path.relpath(f, src) for f in files if f.startswith(src + os.sep)}
    ours = {f for f in ours if not f.startswith(os.path.relpath(build, src) + os.sep)}
    if not ours:
        print(f"fuzz-unchanged: found no source file of {args.target} (is it built with -g?)",
              file=sys.stderr)
        return 2
    changed = set(run(["git", "diff", "--name-only", args.commit, args.commit2], cwd=src).split())
    hit = sorted(ours & changed)
    what = f"{args.target}: {len(ours)} source files"
    if hit:
        print(f"{what}, {len(hit)} changed between {args.commit} and {args.commit2}:")
        for f in hit:
            print(f"  {f}")
        return 1
    print(f"{what}, none changed between {args.commit} and {args.commit2}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
