"""Declarative table specs: one object per paper table, registered once.

A table knows its paper, number, caption, version and *experiments*. An experiment is one thing
the harness runs (an mmseg config under a protocol) or a published reference row that it does
not run. Each experiment contributes *cells*: (metric, layout row, layout column, paper value).
Rendering pivots the cells, so the same mechanism reproduces a plain "one row per model" table
(GCN Table 5), a transposed one whose experiments are columns (GCN Table 1, "k = base, 3 .. 15")
and a mixed one (GCN Table 2: score and parameter rows under each k).

Paper values are transcribed exactly from the paper text in ``shared/papers``; a change that
moves any number (published value, protocol, config) must bump the table's ``version``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

#: A static cell's value comes from the built model, not from training it: a function
#: ``(experiment, metric) -> number or string`` declared on the cell (``Cell.static``), e.g.
#: ``repro.models.static.params`` for ``params`` / ``params@decode_head.kernels.3``.
StaticFn = Callable[["Experiment", str], "float | int | str"]


@dataclass(frozen=True)
class Protocol:
    """How one experiment is trained and evaluated (what the paper's text prescribes)."""

    dataset: Literal["voc", "cityscapes"] = "voc"
    # Split(s) trained on, joined by "+" (concatenated); VOC: ImageSets/Segmentation/<name>.txt,
    # Cityscapes: leftImg8bit/<name>/ ("train_extra" = the coarse set, labels in gtCoarse/).
    train_split: str = "train_aug"
    train_labels: str = "SegmentationClassAug"  # label folder of the train split (VOC)
    eval_split: str = "val"  # "test" means: predictions go to the evaluation server
    eval_labels: str = "SegmentationClass"
    crop_size: tuple[int, int] = (512, 512)  # training crop / pad size (H, W) in the paper
    batch_size: int = 1  # total batch size of the paper, kept whatever the GPU count
    iters: int | None = None  # paper's training iterations when stated, else None
    test_mode: Literal["whole", "slide", "crop4", "proposals"] = "whole"
    multi_scale: bool = False  # multi-scale (+ flip) testing
    # Dense CRF at test time: False; a dict of fixed parameters; or parameters cross-validated
    # as DeepLab did (repro.crf.cv) on its "v1" grid (DeepLab ICLR 2015) or "v2" grid (TPAMI
    # 2017); True means "v2".
    crf: bool | dict | Literal["v1", "v2"] = False
    note: str = ""  # anything else the paper says about this row


@dataclass(frozen=True)
class Phase:
    """One phase of a row's training, which then runs as consecutive trainings, each starting
    from the last (GDN Sec. 4.1/4.3: the added layers with the rest of the network fixed, then
    the whole network at a lower learning rate)."""

    name: str
    share: float = 1.0  # fraction of the row's iterations spent in this phase
    lr_factor: float = 1.0  # times the config's learning rate
    # Parameter-name prefixes that train in this phase (every other parameter gets learning
    # rate and weight decay 0); empty: the whole network.
    trainable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cell:
    """One number of the paper's table: where it sits and what the paper printed."""

    metric: str  # key in the results (e.g. "mIoU", "boundary_acc", "params", "IoU.aeroplane")
    row: str  # layout row title as printed in the paper
    col: str  # layout column title as printed in the paper
    paper: float | str | None = None  # the published value (None: the paper's cell is empty)
    unit: Literal["%", "K", "M", ""] = "%"  # how the paper prints it ("K": thousands of params)
    # For a cell computed from the built model at the paper's widths (parameter counts, layer
    # sizes, receptive fields): the function that computes it; None for a trained metric.
    static: StaticFn | None = None


@dataclass(frozen=True)
class Experiment:
    """A row of work: an mmseg config under a protocol, or a published reference row."""

    key: str  # stable id within the table, used in results and on the command line
    title: str  # human-readable name (the paper's row label where it has one)
    config: str | None  # path relative to mmseg_configs/; None for a reference-only row
    protocol: Protocol = field(default_factory=Protocol)
    cells: tuple[Cell, ...] = ()
    # Extra config options for this row (mmengine dotted keys), e.g. {"model.decode_head.k": 7}.
    options: dict = field(default_factory=dict)
    # Key of a row (same table, or paper/tableN/key) whose trained checkpoint initialises this
    # row's training (multi-stage schedules: GCN Tables 7 and 9; staged FCN-16s/8s; GDN's
    # variants from their baseline). Trained first if needed; in the paper profile a row with a
    # released model gives its released weights instead.
    init_from: str | None = None
    # Keys of rows of the same table whose trained checkpoints this row's EnsembleSegmentor
    # averages (GDN ensemble, EDeconvNet); an ensemble row is evaluated, never trained.
    members: tuple[str, ...] = ()
    # Name of the authors' released model this row's published number comes from (an entry of
    # repro.released's registry): `repro run TABLE/ROW --released` evaluates it without
    # training; in the paper profile, rows whose init_from names this row start from it.
    released: str | None = None
    # Training phases (see Phase); empty: one training.
    phases: tuple[Phase, ...] = ()
    # A user's row (`repro run --add NAME=CONFIG@ROW`): the key of the row whose protocol it
    # follows; the report compares the two (paired bootstrap of the difference).
    follows: str | None = None

    @property
    def reference(self) -> bool:
        """True for the other methods' published rows that the harness shows but does not run."""
        return self.config is None

    @property
    def trained_metrics(self) -> list[str]:
        return [c.metric for c in self.cells if c.static is None]

    @property
    def static_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.static is not None]


@dataclass(frozen=True)
class TableSpec:
    paper: str  # short paper id: "gcn", "gdn", "deconvnet", "dilation", "fcn"
    number: int
    caption: str  # the paper's caption, verbatim
    experiments: tuple[Experiment, ...]
    version: int = 1
    corner: str = ""  # text of the top-left header cell (e.g. "k")
    citation: str = ""  # paper title / venue, shown in the report header
    row_order: tuple[str, ...] = ()  # layout rows in the paper's order (default: first use)
    # Pairs of row keys (a, b) whose mIoU difference a - b the report tests with a paired
    # bootstrap over images (the paper's claims, e.g. GCN vs a plain convolution at equal k);
    # default: each trained row against the one before it.
    comparisons: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.paper}/table{self.number}"

    def experiment(self, key: str) -> Experiment:
        for e in self.experiments:
            if e.key == key:
                return e
        raise UnknownTableError(f"{self.name}/{key}", [f"{self.name}/{e.key}" for e in
                                                       self.experiments], what="row")

    @property
    def runnable(self) -> list[Experiment]:
        return [e for e in self.experiments if not e.reference]

    def layout(self) -> tuple[list[str], list[str]]:
        """Row and column titles in order of first appearance."""
        rows: list[str] = []
        cols: list[str] = []
        for e in self.experiments:
            for c in e.cells:
                if c.row not in rows:
                    rows.append(c.row)
                if c.col not in cols:
                    cols.append(c.col)
        if self.row_order:
            assert sorted(self.row_order) == sorted(rows), f"{self.name}: row_order != rows"
            rows = list(self.row_order)
        return rows, cols


_TABLES: dict[str, TableSpec] = {}


def register_table(spec: TableSpec) -> TableSpec:
    """Add a table to the registry; a duplicate name or duplicate cell is a programming error."""
    if spec.name in _TABLES:
        raise ValueError(f"Table {spec.name} is registered twice.")
    seen: set[tuple[str, str]] = set()
    keys: set[str] = set()
    for e in spec.experiments:
        if e.key in keys:
            raise ValueError(f"Table {spec.name} declares row key {e.key!r} twice.")
        keys.add(e.key)
        for c in e.cells:
            if (c.row, c.col) in seen:
                raise ValueError(f"Table {spec.name}: two cells at ({c.row!r}, {c.col!r}).")
            seen.add((c.row, c.col))
    _TABLES[spec.name] = spec
    return spec


def all_tables() -> dict[str, TableSpec]:
    _load()
    return dict(sorted(_TABLES.items(), key=lambda kv: (kv[1].paper, kv[1].number)))


def get_table(name: str) -> TableSpec:
    tables = all_tables()
    if name in tables:
        return tables[name]
    raise UnknownTableError(name, list(tables))


def resolve(selector: str) -> list[TableSpec]:
    """Tables matching a command-line selector.

    ``gcn/table1`` -> that table; ``table1`` -> Table 1 of every registered paper;
    ``gcn`` -> every table of that paper; ``all`` -> everything. ``gcn/table1/k15`` is a single
    row and is handled by :func:`split_row`.
    """
    tables = all_tables()
    sel = selector.strip().strip("/").lower()
    if sel == "all":
        return list(tables.values())
    if sel in tables:
        return [tables[sel]]
    if sel.startswith("table"):
        found = [t for t in tables.values() if f"table{t.number}" == sel]
        if found:
            return found
    found = [t for t in tables.values() if t.paper == sel]
    if found:
        return found
    raise UnknownTableError(selector, list(tables))


def split_row(selector: str) -> tuple[str, str | None]:
    """``gcn/table1/k15`` -> (``gcn/table1``, ``k15``); anything else -> (selector, None)."""
    parts = selector.strip().strip("/").split("/")
    if len(parts) == 3:
        return "/".join(parts[:2]), parts[2]
    return selector, None


class UnknownTableError(KeyError):
    """An unknown table or row name: the message lists the known ones."""

    def __init__(self, name: str, known: list[str], what: str = "table"):
        self.name, self.known, self.what = name, known, what
        super().__init__(name)

    def __str__(self) -> str:
        if self.what == "row":
            return f"Unknown row {self.name!r}. Rows of that table: {', '.join(self.known)}."
        return (
            f"Unknown table {self.name!r}. Known tables: {', '.join(self.known)}; "
            "'tableN' selects Table N of every paper, a paper id selects all its tables, "
            "'all' selects everything. Run `repro list` to see them with their status."
        )


#: Entry-point group through which other packages add tables: each entry point names a module
#: with a ``TABLES`` sequence of TableSpecs (as the built-in paper modules have) or a callable
#: returning TableSpecs.
ENTRY_POINT_GROUP = "repro.tables"
_loaded = False


def _load() -> None:
    """Fill the registry, once: the built-in papers' ``TABLES`` (``repro.tables.BUILTIN``),
    then the entry points' (a table already registered under that name is kept)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib import import_module
    from importlib.metadata import entry_points

    from repro.tables import BUILTIN

    for module in BUILTIN:
        for spec in import_module(module).TABLES:
            register_table(spec)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plugin must not hide the others
            raise TablePluginError(
                f"Table plugin {ep.name} ({ep.value}, entry point group {ENTRY_POINT_GROUP!r}) "
                f"failed to import: {type(e).__name__}: {e}. Fix or uninstall that package."
            ) from e
        specs = obj() if callable(obj) else getattr(obj, "TABLES", ())
        for spec in specs or ():
            if spec.name not in _TABLES:
                register_table(spec)


class TablePluginError(ImportError):
    """A package registered through the ``repro.tables`` entry points does not import."""
