"""Parse-time validators of integer flags (argparse ``type=``), shared by ``repro`` (cli.py)
and ``repro pretrain`` (pretrain.py). A leaf module: it imports nothing of repro, so both can
import it at module level without an import cycle. A refused value is an argparse error: usage
and one line naming the flag, exit 2, before any work starts."""

from __future__ import annotations

import argparse

__all__ = ["nonnegative_int", "positive_int", "seed_int"]


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer of at least 1 (iterations, epochs, intervals, process counts)."""
    value = _int(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer of at least 0 (data loader workers: 0 loads in the main process)."""
    value = _int(text, "a non-negative integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def seed_int(text: str) -> int:
    """A random seed, 0 .. 2**31-1 (what numpy and torch accept everywhere)."""
    value = _int(text, "an integer seed")
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"seeds are 0 .. 2**31-1, got {value}")
    return value
