"""The ``segrap-nb`` command line: one subcommand per task, each defined in its own module.

Each module named in ``COMMANDS`` (``segrap_nb/cli/<command>.py``) provides
``add_arguments(parser)`` and ``run(args) -> int``; it parses options and prints, while the work
is done by library functions in the domain modules. Options shared by several commands, and the
output-folder guard of every writing command, are defined once in ``segrap_nb.cli.options``.
A module is imported only when its subcommand runs, so ``segrap-nb validate`` does not pay for
importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from segrap_nb.errors import DataError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "phantom": ("segrap_nb.cli.phantom", "write a synthetic SegRap-like dataset in the release layout"),
    "validate": ("segrap_nb.cli.validate", "check every case of a dataset (files, grids, labels)"),
    "stats": ("segrap_nb.cli.stats", "label and resolution statistics, compared with the dataset card"),
    "train": ("segrap_nb.cli.train", "train a compact 3D U-Net (MONAI)"),
    "predict": ("segrap_nb.cli.predict", "predict with a trained run, in the release layout"),
    "evaluate": ("segrap_nb.cli.evaluate", "DSC, NSD and HD95 per case and structure, as the challenge"),
    "export-nnunet": ("segrap_nb.cli.export_nnunet", "export a dataset as an nnU-Net v2 raw dataset"),
    "export-algorithm": (
        "segrap_nb.cli.export_algorithm",
        "package a trained run as a SegRap algorithm-container folder (Docker)",
    ),
}


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (``error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: <prog>: <message> (see --help)`` and exit 2."""
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _top_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="segrap-nb",
        description="segrap-nb: a teaching kit for the SegRap 2023 challenge.",
        epilog="Run 'segrap-nb COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``segrap-nb`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}")
        parser.parse_args(argv or ["--help"])
        return 0
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    parser = OneLineParser(prog=f"segrap-nb {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
