"""Command line: ``python -m workshop COMMAND``.

  build [NAME ...|all] [--jobs N]
                          build dockerfiles/NAME.Dockerfile as bert-classifier:NAME, run its batch
                          command and print the sizes next to the tutorial's (default: the classic
                          three; all: every image of the lessons; N images at a time);
                          NAME-TARGET builds stage TARGET of NAME.Dockerfile (final-debug);
                          onnx-int8 is onnx.Dockerfile with QUANTIZE=int8
  inspect IMAGE [--json]  size, layers and wasted bytes (ours and dive's) of an image
  check EXERCISE [--solution]
                          run an exercise's check on exercises/ (or solutions/)
  generate-exercises [--check]
                          regenerate exercises/ from solutions/ (--check: fail if out of date)
  learner [--print]       open the learner's edition (learner/: the lessons without outputs) in JupyterLab
  reset LESSON            put a lesson of the learner's edition back to its start (exercises stay)
  generate-learner [--check]
                          regenerate learner/ from notebooks/ (--check: fail if out of date)
  site [--out DIR]        build the lesson site (the lessons with their outputs) into results/site/
  setup-check             the 00 setup check ([OK]/[FAIL] lines)
  flags                   this machine's extra docker build and run flags, as shell lines to eval:
                          eval "$(python -m workshop flags)" sets BUILD_FLAGS and RUN_FLAGS
  prefetch [NAME ...]     before the day: build every image the lessons use (default: all of them)
                          and print the Docker disk it took
  clean [--keep-build-cache]
                          after the day: remove the workshop's containers, images and build cache
                          (never the base images) and print the disk given back; then stop the
                          current engine of workshop/current-engine.sh, if any, and delete its data
  pull LESSON --registry HOST:PORT
                          a lesson's images (and the earlier lessons') from the room's registry
  room serve [--port 5001] [--publish] | room save DIR | room load DIR
                          the instructor's plan B: a registry of every lesson's image, or tarballs
  cache serve [--port 5000] [--host 0.0.0.0] [--prefetch]
                          the instructor's classroom package cache (see README)
  cache prefetch [--cache URL]
                          fill a running cache with every wheel the images install
  lock [--check]          write requirements.lock and app/*.lock from the requirement files they
                          lock (every package, with its hashes; --check: fail if one no longer matches)
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import shlex
import sys

from workshop import images

#: The tutorial's published sizes, quoted for comparison (not measured here).
PUBLISHED = {"naive": "2.54 GB", "slim": "1.66 GB", "multistage": "820 MB"}


def _build(names: list[str], jobs: int = 1) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from workshop import config, engine
    from workshop.build import build_named
    from workshop.run import run_batch

    if names == ["all"]:
        names = list(images.PREFETCHED)
    if not config.offline():  # offline rooms have their stand-ins; elsewhere BuildKit would not list them
        from workshop.build import pull_bases
        pull_bases()

    def build_and_run(name: str) -> tuple[str, ...]:
        tag = images.tag(name)
        # Two logs at once would interleave line by line: with --jobs, one line per build instead.
        result = build_named(name, quiet=jobs > 1)
        verdict = run_batch(tag).strip().splitlines()[-1]
        return tag, engine.human(result.size_bytes), PUBLISHED.get(name, "-"), f"{result.seconds:.0f} s", verdict

    # pip and the layer export each keep about one core busy: two builds at once finish sooner
    # on two cores or more. BuildKit runs a step that two builds share only once.
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        rows = list(pool.map(build_and_run, names or images.CLASSIC))
    header = ("image", "size here", "published", "build", "batch result")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


def _inspect(image: str, as_json: bool, compressed: bool) -> int:
    from workshop import engine
    from workshop.layers import inspect_report

    report = inspect_report(image, compressed=compressed)
    # The process ends after the report: Python's last collection at exit need not walk the
    # analysis's 400,000-odd objects (0.1 to 0.3 s on the naive image).
    gc.freeze()
    if as_json:
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
        return 0
    print(f"{report['image']}: {engine.human(report['size_bytes'])}, {len(report['layers'])} layers")
    for layer in report["layers"]:
        print(f"  {layer['index']:>3}  {engine.human(layer['size_bytes']):>10}  {layer['command'][:100]}")
    dive = report["dive"]
    print(f"wasted: {engine.human(report['wasted_bytes'])} (dive counts {engine.human(dive['wasted_bytes'])}, "
          f"efficiency {dive['efficiency']:.2%})")
    return 0


def _flags() -> int:
    """Print `export BUILD_FLAGS=...` and `export RUN_FLAGS=...` for a shell to eval: the notebooks'
    $BUILD_FLAGS and $RUN_FLAGS, in a terminal. The shell splits an unquoted $BUILD_FLAGS at spaces
    and reads no quotes in it, so a flag with a space in it cannot pass that way: say so instead."""
    from workshop.notebook import docker_flags

    for name, flags in zip(("BUILD_FLAGS", "RUN_FLAGS"), docker_flags(), strict=True):
        if any(char in flags for char in "'\""):
            print(f"error: {name} has a value with a space or a quote in it ({flags}): type the flags "
                  "yourself, quoted", file=sys.stderr)
            return 1
        print(f"export {name}={shlex.quote(flags)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build and run images")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="build N images at a time (logs: one line each)")
    p = sub.add_parser("inspect", help="layers and waste of an image")
    p.add_argument("image")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--compressed", action="store_true", help="also gzip each layer to report compressed size")
    sub.add_parser("check", help="check an exercise", add_help=False)
    sub.add_parser("generate-exercises", help="regenerate exercises/ from solutions/", add_help=False)
    sub.add_parser("learner", help="open the learner's edition in JupyterLab", add_help=False)
    sub.add_parser("reset", help="put a lesson of the learner's edition back to its start", add_help=False)
    sub.add_parser("generate-learner", help="regenerate learner/ from notebooks/", add_help=False)
    sub.add_parser("site", help="build the lesson site", add_help=False)
    sub.add_parser("setup-check", help="is this machine ready for the workshop?", add_help=False)
    sub.add_parser("flags", help="this machine's extra docker build and run flags, for a terminal")
    p = sub.add_parser("prefetch", help="build the lessons' images before the day")
    p.add_argument("names", nargs="*", metavar="NAME")
    p = sub.add_parser("clean", help="remove the workshop's containers, images and build cache")
    p.add_argument("--keep-build-cache", action="store_true", help="leave the build cache alone")
    sub.add_parser("cache", help="classroom package cache (instructors)", add_help=False)
    sub.add_parser("pull", help="a lesson's images from the room's registry", add_help=False)
    sub.add_parser("room", help="the room's registry and image tarballs (instructors)", add_help=False)
    sub.add_parser("lock", help="write requirements.lock and app/*.lock (every package, hashed) from the pins", add_help=False)

    argv = sys.argv[1:] if argv is None else argv
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from workshop.build import BuildFailed
    from workshop.engine import DiskFull, DockerUnavailable
    from workshop.run import RunFailed

    try:
        if args.command == "build":
            return _build(args.names, args.jobs)
        if args.command == "inspect":
            return _inspect(args.image, args.json, args.compressed)
        if args.command in ("check", "generate-exercises"):
            from workshop import exercises
            return exercises.main(argv)
        if args.command in ("learner", "reset", "generate-learner"):
            from workshop import learner
            return learner.main(argv)
        if args.command == "site":
            from workshop import site
            return site.main(rest)
        if args.command == "setup-check":
            from workshop import setup_check
            return setup_check.main(rest)
        if args.command == "flags":
            return _flags()
        if args.command == "prefetch":
            from workshop import housekeeping
            print(housekeeping.prefetch(args.names or images.PREFETCHED))
            return 0
        if args.command == "clean":
            from workshop import housekeeping
            print(housekeeping.clean(keep_build_cache=args.keep_build_cache))
            if said := housekeeping.clean_current_engine():
                print(said)
            return 0
        if args.command in ("pull", "room"):
            from workshop import room
            return room.main(argv)
        if args.command == "cache":
            from workshop import classroom
            return classroom.main(rest)
        if args.command == "lock":
            from workshop import lock
            return lock.main(rest)
    except (DockerUnavailable, DiskFull, BuildFailed, RunFailed, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
