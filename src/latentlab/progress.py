"""One way to print a line of progress: to stderr, flushed, and around any tqdm bar that is drawing."""

from __future__ import annotations

import sys


def say(progress: bool, message: str) -> None:
    """Print `message` on stderr when `progress` is on. While tqdm is loaded (a download or the benchmark may be
    drawing a bar) the line goes through `tqdm.write`, so the bar is redrawn below it instead of being cut."""
    if not progress:
        return
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
        sys.stderr.flush()
    else:
        print(message, file=sys.stderr, flush=True)
