"""One entry point for an image without a shell: the batch run by default, the API on request.

    python main.py [FILE]    # classify FILE (default: the sample text), print the result, exit
    python main.py serve     # the HTTP API under gunicorn (settings: gunicorn.conf.py, here)

The final image runs it as its ENTRYPOINT, so `docker run IMAGE` prints the batch result and
`docker run IMAGE serve` serves: no shell and no console scripts needed.
"""

from __future__ import annotations

import sys

SAMPLE = "sample_data/sample_text.txt"


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        from gunicorn.app.wsgiapp import run

        sys.argv = ["gunicorn", *argv[1:]]  # gunicorn reads its options (if any) from sys.argv
        return run()
    from predictor import main as classify_file

    return classify_file(argv or [SAMPLE])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
