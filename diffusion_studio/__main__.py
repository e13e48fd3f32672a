"""``python -m diffusion_studio`` — same as the ``diffusion-studio`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
