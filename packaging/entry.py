"""PyInstaller entry point: the same as the ``diffusion-studio`` command."""

import multiprocessing
import sys

from diffusion_studio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader workers in a frozen app
    sys.exit(main())
