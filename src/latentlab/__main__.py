"""`python -m latentlab` (what torchrun runs): the CLI."""

import sys

from latentlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
