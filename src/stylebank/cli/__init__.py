"""The ``stylebank`` command: train, add-style, stylize, export, sheet, eval, optimize, info, styles, export-style,
import-style, serve, video. Each command's options (``add_<command>``) and handler (``run_<command>``) live together in the
module of its kind."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from .. import __version__
from ..errors import StyleBankError, TrainingInterrupted
from ..runtime import keep_freed_memory
from .evaluation import add_eval, add_optimize, add_plot
from .models import add_export, add_export_style, add_import_style, add_info, add_styles
from .serving import add_serve
from .stylize import add_sheet, add_stylize
from .training import add_add_style, add_train
from .video import add_video


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage mistakes as one line that points to --help, instead of the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; each command's options are set by its ``add_<command>``, beside its handler."""
    parser = OneLineErrorParser(prog="stylebank", description="StyleBank neural style transfer (Chen et al. 2017).")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--version", action="version", version=f"stylebank {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (add_train, add_add_style, add_stylize, add_export, add_sheet, add_eval, add_optimize,
                        add_plot, add_info, add_styles, add_export_style, add_import_style, add_serve, add_video):
        add_command(commands)
    return parser


def show_note(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (an animated image's first frame, ...) as one line, without the source line."""
    print(f"stylebank: note: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # a command's big tensors are reused rather than mapped afresh each time
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_note
            code = args.handler(args)
            sys.stdout.flush()  # a reader that stopped reading (| head) shows here, not at the interpreter's exit
            return code
    except BrokenPipeError:
        # the reader has what it wanted: no message; stdout to /dev/null so that the exit's own flush is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE  # as a program killed by SIGPIPE, the shell's convention
    except TrainingInterrupted as error:
        print(f"stylebank: {error}", file=sys.stderr)
        return 128 + error.signum  # the shell's convention: 130 after Ctrl-C, 143 after SIGTERM
    except StyleBankError as error:
        if args.debug:
            raise
        print(f"stylebank: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a permission, ... while writing: what and where, no traceback
        if args.debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        print(f"stylebank: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stylebank: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
