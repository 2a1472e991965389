"""``repro weights``: what each table needs and whether it is there, the released models and
where their authors published them, ``--check FILE --config CONFIG`` and ``import-caffe``.

The command, apart from the weights themselves (``repro.weights``: registry, lookup, checks,
loading) and the released models (``repro.released``), so that neither of those imports the
other: this module imports both.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from repro.weights import (
    REGISTRY,
    WeightsError,
    check_weights,
    find_weights,
    weights_dir,
    weights_for_config,
)


def add_weights_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``repro weights`` options and its ``import-caffe`` action (the names
    :func:`main_weights` reads)."""
    parser.add_argument("--check", default=None, metavar="FILE",
                        help="check a weight file against --config's backbone")
    parser.add_argument("--config", default=None,
                        help="config (path under mmseg_configs/ or a file) for --check")
    actions = parser.add_subparsers(dest="weights_command", metavar="ACTION")
    imp = actions.add_parser(
        "import-caffe", help="convert a released .caffemodel into a checkpoint of a config's model",
        description="Convert an authors' released .caffemodel (`repro weights` lists them) into "
                    "a checkpoint that loads into the config's model with strict=True; exit 2 "
                    "naming the first layer that is missing, unexpected or mis-shaped.")
    imp.add_argument("caffemodel", type=Path, help="the .caffemodel file")
    imp.add_argument("--config", default=None,
                     help="config under mmseg_configs/ (default: the released model's own)")
    imp.add_argument("--out", type=Path, required=True, help="the checkpoint to write (.pth)")
    imp.add_argument("--model", default=None,
                     help="released model name (`repro weights` lists them); default: the one "
                          "whose layer names fit the file")
    return parser


def main_import_caffe(args: argparse.Namespace) -> int:
    """``repro weights import-caffe``: 0 and one line on success, 2 and one line on a file that
    does not fit."""
    from repro.released import import_caffe

    try:
        result = import_caffe(args.caffemodel, args.out, config=args.config, model=args.model)
    except (WeightsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{result.source} -> {result.out}: released model {result.model}, {result.tensors} "
          f"tensors for {result.config} (source sha256 {result.sha256[:16]})")
    return 0


def main_weights(args: argparse.Namespace) -> int:
    """Entry of ``repro weights``: without --check, list what each table needs and whether it
    is present (exit 0 either way), then the released models; with --check FILE --config
    CONFIG, 0 if the file fits, else 2; ``import-caffe``: :func:`main_import_caffe`."""
    if getattr(args, "weights_command", None) == "import-caffe":
        return main_import_caffe(args)
    if args.check:
        if not args.config:
            print("error: --check FILE needs --config CONFIG (the config whose backbone the file "
                  "is for).", file=sys.stderr)
            return 2
        result = check_weights(args.check, args.config)
        print(result.format(), file=sys.stdout if result.ok else sys.stderr)
        return 0 if result.ok else 2
    from tabulate import tabulate

    needs = _needs_by_entry()
    rows = []
    for name, spec in REGISTRY.items():
        found = find_weights(spec)
        tables = ", ".join(sorted(needs.pop(name, []))) or "-"
        rows.append([name, tables, str(found) if found else f"MISSING: {spec.files[0]}"])
    rows += [[name, ", ".join(sorted(tables)), ""] for name, tables in needs.items()]
    print(f"weights folder: {weights_dir()} (set $REPRO_WEIGHTS to change it)")
    print(tabulate(rows, headers=["weights", "needed by", "file"]))
    for row, spec in zip(rows, REGISTRY.values()):
        if row[1] != "-" and row[2].startswith("MISSING"):
            print(f"{spec.name}: {spec.how}")
    print()
    _list_released(needs_vgg16=rows[0][1] if rows and rows[0][0] == "vgg16" else "-")
    return 0


def released_listing(needs_vgg16: str = "-") -> list[list[str]]:
    """Rows of the released-models table: name, file, status, where published, rows using it."""
    from repro.released import RELEASED, find_released

    out = []
    folder = weights_dir().expanduser()
    for spec in RELEASED.values():
        converted = folder / spec.target
        found = find_released(spec)
        status = ("converted" if converted.is_file() else
                  f"found: {found}" if found else "MISSING")
        used = ", ".join(spec.rows) or (f"training init ({needs_vgg16})"
                                        if spec.output == "vgg16" else "-")
        out.append([spec.name, spec.files[0], status, used, spec.url])
    return out


def _list_released(needs_vgg16: str = "-") -> None:
    from tabulate import tabulate

    rows = released_listing(needs_vgg16)
    print("released models (put the .caffemodel in the weights folder; `repro run ROW "
          "--released` converts it on first use, or: repro weights import-caffe FILE "
          "--model NAME --out FILE.pth)")
    print(tabulate([r[:4] for r in rows], headers=["released", "file", "status", "rows"]))
    print("where the authors published them:")
    for name, _, _, _, url in rows:
        print(f"  {name}: {url}")


def _uses_edgeboxes(exp) -> bool:
    """Whether the row needs the ``structured_edges`` file in the paper profile: its config,
    after the row's options, tests or trains with EdgeBoxes proposals
    (``repro.models.proposals.edgeboxes_sources``, what ``repro.weights.require_proposals``
    resolves). Only DeconvNet's proposal-mode rows have any; rows of static cells only
    (computed from the built model) neither train nor test."""
    if exp.protocol.test_mode != "proposals" or not exp.trained_metrics:
        return False
    from mmengine.config import Config

    from repro import paths
    from repro.models.proposals import edgeboxes_sources

    cfg = Config.fromfile(str(paths.config_path(exp.config)))
    if exp.options:
        cfg.merge_from_dict(exp.options)
    return bool(edgeboxes_sources(cfg))


def _needs_by_entry() -> dict[str, set[str]]:
    """Registry entry -> what needs it: the tables whose configs' backbones load it; for
    ``structured_edges``, which is no backbone, the rows that test with EdgeBoxes
    (``paper/tableN/row``, as the released models list theirs)."""
    from repro.tables.registry import all_tables

    @functools.cache
    def entry(config: str) -> str:
        try:
            spec = weights_for_config(config)
        except WeightsError:
            return f"unregistered ({config})"
        return spec.name if spec else "none (trained from scratch)"

    needs: dict[str, set[str]] = {}
    for table in all_tables().values():
        for exp in table.runnable:
            needs.setdefault(entry(exp.config), set()).add(table.name)
            if _uses_edgeboxes(exp):
                needs.setdefault("structured_edges", set()).add(f"{table.name}/{exp.key}")
    return needs
