"""The ``diffusion-studio`` command.

With no subcommand (or just an image path) it opens the desktop app; each
subcommand lives in its own module here with ``register(subparsers)``.
Exit codes: 0 success, 2 bad usage or unusable input (one line on stderr), 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import warnings
from typing import Sequence

from .. import __version__
from ..core.errors import InputError

__all__ = ["main", "build_parser", "COMMANDS"]

#: Subcommand modules of this package, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("train", "sample", "generate", "schedule", "noise", "export_diffusers", "playground")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffusion-studio",
        description="See denoising diffusion models work. With no command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffusion-studio", add_help=False)
    parser.add_argument("image", nargs="?", help="an image to open")
    parser.add_argument("--self-test", action="store_true", help="open offscreen, render a frame, exit 0")
    return parser


def _wants_gui(argv: Sequence[str]) -> bool:
    if not argv:
        return True
    first = argv[0]
    return first.replace("-", "_") not in COMMANDS and first not in ("-h", "--help", "--version")


def _printable_streams() -> None:
    # A file name that is not UTF-8 reaches Python as lone surrogates; printed to a strict UTF-8
    # stream (a UTF-8 locale) it would raise. Show such bytes as \xNN, as Python's stderr does.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _printable_streams()
    # core.images refuses anything over its own pixel limit; Pillow's warning would be a second line.
    warnings.filterwarnings("ignore", message="Image size .* could be decompression bomb")
    try:
        if _wants_gui(argv):
            args, unknown = _gui_parser().parse_known_args(argv)
            if unknown:
                build_parser().error(f"unrecognized arguments: {' '.join(unknown)}")
            from ..gui.app import run_app  # lazy: the CLI never pays for Qt

            return run_app(args.image, self_test=args.self_test)
        args = build_parser().parse_args(argv)
        return int(args.func(args) or EXIT_OK)
    except InputError as exc:
        print(f"diffusion-studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("diffusion-studio: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse errors exit 2 already
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
