"""python -m yamlstats FILE...: one line per file, what it holds."""

import sys
from pathlib import Path

from yamlstats import libyaml_version, stats


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: python -m yamlstats FILE...", file=sys.stderr)
        return 2
    for path in paths:
        counts = stats(Path(path).read_text(encoding="utf-8"))
        print(f"{path}: " + ", ".join(f"{kind}: {n}" for kind, n in counts.items()))
    print(f"(parsed by libyaml {libyaml_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
