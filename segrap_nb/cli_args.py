"""Argument types shared by the subcommands' parsers (a base module: the commands import it, not the CLI)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer between ``lo`` and ``hi`` (inclusive)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {value}")
        return value

    parse.__name__ = f"integer {lo}..{hi}"
    return parse
