"""Plans: everything a row needs, resolved and validated before anything runs.

One path through a row: ``cli`` parses -> :func:`plan_rows` resolves -> ``repro.runner``
executes (mmengine) -> ``repro.results`` records -> ``repro.report`` renders.

A :class:`RowPlan` is immutable and complete: the profile applied to the row's config (the
``paper`` / ``smoke`` differences live in ``repro.profiles``), the row's options, the command
line's overrides (precedence: command line > row > profile, and every setting that replaced
another is named in ``notes``), the data (root, fingerprint, a full check paid once per
fingerprint), the pretrained or released weights, and the upstream work as plans of their own:
the :class:`Training` of the row (shared by every row that trains the same model: the training
key covers model, data, schedule, seed and the upstream training), the trainings it starts
from (``init_from``: multi-stage schedules) or averages (ensemble ``members``), and the CRF
parameters (fixed, or a :class:`CrfCV` cross-validation that runs after training).

The row's hash is computed once, from the plan: the evaluation config with the data root
replaced by the data's fingerprint and weight files by their content digest, plus the training
key, the CRF plan, the static cells and the table's spec version. Moving ``$REPRO_CACHE``, the
data or the work directory changes no hash; changing an earlier stage changes every later
one. A row whose result has the same hash and is good is ``done`` and skipped unless
``--force``.

Everything a user can get wrong fails here, by name, before anything is written or trained:
unknown options, missing or damaged data, missing weights, unwritable directories.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from repro import paths
from repro.data.source import (
    DataSource,
    SplitMissingError,
    fingerprint,
    require_checked,
    resolve_data,
    split_files,
)
from repro.profiles import Profile, apply_profile, apply_protocol
from repro.results import GOOD, ResultsFileError, read_file, result_path
from repro.tables.registry import Experiment, TableSpec
from repro.tables.rows import RELEASED_HEADING, has_released, row_ref


class PlanError(ValueError):
    """Something the user can fix, found while planning (printed as one message, exit 2)."""


@dataclass(frozen=True)
class Settings:
    """How the rows of one command are run (the same for every row)."""

    profile: Profile
    results_dir: Path
    work_root: Path
    data_root: str | None = None
    seeds: tuple[int, ...] = (0,)
    force: bool = False
    iters: int | None = None  # --iters
    checkpoint_interval: int | None = None  # --checkpoint-interval
    cfg_options: dict = field(default_factory=dict)  # --cfg-options, applied last
    released: bool = False  # --released: evaluate the authors' released models
    amp: bool = False  # --amp: mixed precision (mmengine AmpOptimWrapper)
    world_size: int = 1
    launcher: str = "none"

    @property
    def overrides(self) -> dict:
        """The command-line settings that depart from the profile and the protocols."""
        out = {k: v for k, v in (("iters", self.iters),
                                 ("checkpoint_interval", self.checkpoint_interval)) if v}
        if self.cfg_options:
            out["cfg_options"] = dict(self.cfg_options)
        if self.amp:
            out["amp"] = True
        return out


@dataclass(frozen=True)
class Training:
    """One training run (an mmengine train loop), shared by the rows that need it."""

    key: str  # training hash: rows with equal keys train once
    label: str  # "table/row@seedN" of the first row that needs it
    cfg: dict  # the mmengine config to train with (without work_dir and load_from)
    work_dir: Path
    iters: int
    upstream: Training | None = None  # init_from: its final checkpoint initialises this one
    weights: dict = field(default_factory=dict)  # pretrained weights used (provenance)
    # Released weights that initialise this training instead of an upstream training (paper
    # profile, init_from a row with a released model): {"name", "path", "sha256"}.
    init_weights: dict | None = None

    @property
    def final(self) -> Path:
        return self.work_dir / f"iter_{self.iters}.pth"

    def chain(self) -> list[Training]:
        """This training and its upstream ones, first stage first."""
        out, t = [], self
        while t is not None:
            out.append(t)
            t = t.upstream
        return out[::-1]


@dataclass(frozen=True)
class CrfCV:
    """DeepLab's cross-validation of the dense-CRF parameters for a trained row."""

    key: str
    grid: str
    strategy: str
    num_images: int
    out: Path  # the chosen parameters (JSON); kept with its key, reused while the key holds
    cfg: dict  # the evaluation config whose probabilities are searched (on val images)


@dataclass(frozen=True)
class RowPlan:
    spec: TableSpec
    exp: Experiment
    seed: int
    profile: str
    data: DataSource
    data_fingerprint: str
    cfg: dict  # the evaluation config (model, test data, evaluator), without CRF parameters
    hash: str
    result_path: Path
    training: Training | None = None
    members: tuple[Training, ...] = ()
    released: dict | None = None  # {"name", "path", "sha256"} under --released
    crf: dict | CrfCV | None = None  # fixed parameters, a cross-validation, or none
    info: dict = field(default_factory=dict)  # iterations, batch sizes, crop... (provenance)
    overrides: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    user_row: bool = False
    action: str = "run"  # "run", "done" (same hash, good result), "static" (no training)

    @property
    def label(self) -> str:
        return f"{self.spec.name}/{self.exp.key}@seed{self.seed}"


@dataclass
class Plan:
    rows: list[RowPlan]
    skipped: list[tuple[str, str]]  # (row label, why)

    def trainings(self) -> list[Training]:
        """Every training a row to run needs (upstream stages included), deduplicated."""
        seen: dict[str, Training] = {}
        for r in self.rows:
            if r.action != "run":
                continue
            for t in ([r.training] if r.training else []) + list(r.members):
                for stage in t.chain():
                    seen.setdefault(stage.key, stage)
        return list(seen.values())


# ---------------------------------------------------------------------------------------------
# Hashing


def _canonical(obj, replace: dict[str, str]):
    """``obj`` with the strings that start with a key of ``replace`` rewritten (paths of data
    and weight files -> their fingerprints), for hashing."""
    if isinstance(obj, dict):
        return {k: _canonical(v, replace) for k, v in obj.items()
                if k not in ("work_dir", "experiment_name", "load_from", "resume")}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, replace) for v in obj]
    if isinstance(obj, str):
        for prefix, token in replace.items():
            if obj.startswith(prefix):
                return token + obj[len(prefix):]
    return obj


TRAINING_KEYS = ("model", "train_dataloader", "optim_wrapper", "param_scheduler", "train_cfg",
                 "randomness")


def training_key(cfg: dict, replace: dict[str, str], upstream: Training | None,
                 init_weights: dict | None = None) -> str:
    d = {k: cfg.get(k) for k in TRAINING_KEYS}
    d["model"] = {k: v for k, v in (d["model"] or {}).items() if k != "test_cfg"}
    return paths.stable_hash([_canonical(d, replace), upstream.key if upstream else None,
                              init_weights["sha256"] if init_weights else None])


def freeze_all_but(optim_wrapper: dict, trainable: tuple[str, ...]) -> None:
    """Learning rate and weight decay 0 for every parameter whose name does not start with one
    of ``trainable`` (mmengine ``paramwise_cfg.custom_keys``: the longest matching key wins, so
    each trainable prefix keeps the multipliers it had and the rest match a frozen key)."""
    pw = optim_wrapper.setdefault("paramwise_cfg", {})
    keys = dict(pw.get("custom_keys") or {})
    frozen = dict(lr_mult=0.0, decay_mult=0.0)
    out = {k: (dict(v) if any(k.startswith(t) for t in trainable) else dict(v, **frozen))
           for k, v in keys.items()}
    for t in trainable:
        out.setdefault(t, {})
    for prefix in ("backbone", "decode_head", "auxiliary_head", "neck"):
        out.setdefault(prefix, dict(frozen))
    pw["custom_keys"] = out


# ---------------------------------------------------------------------------------------------
# Planning


def _row_splits(exp: Experiment) -> dict[str, str | None]:
    """Split -> label folder (None: images only) of everything the row reads."""
    p = exp.protocol
    labels: dict[str, str | None] = {}
    if exp.trained_metrics and not exp.members:
        labels.update({s: p.train_labels for s in p.train_split.split("+")})
    labels[p.eval_split] = None if p.eval_split == "test" else p.eval_labels
    return labels


class Planner:
    """Resolves rows into plans; upstream rows (init_from, members) are planned by the same
    planner (memoised), so a row and its stages agree on every training key."""

    def __init__(self, settings: Settings):
        self.s = settings
        self._trainings: dict[tuple[str, str, int], Training] = {}
        self._data: dict[str, DataSource] = {}
        self._checked: dict[tuple, str] = {}
        self._configs: dict[Path, object] = {}

    # -- pieces ---------------------------------------------------------------------------

    def data(self, dataset: str) -> DataSource:
        if dataset not in self._data:
            self._data[dataset] = resolve_data(dataset, self.s.profile, self.s.data_root)
        return self._data[dataset]

    def _check(self, data: DataSource, labels: dict[str, str | None]) -> str:
        for split, label_dir in labels.items():
            split_files(data, split, label_dir)
        key = (data.root, tuple(sorted(labels.items(), key=str)))
        if key not in self._checked:
            self._checked[key] = require_checked(data, labels)
        return self._checked[key]

    def config(self, spec: TableSpec, exp: Experiment, seed: int, *, full_width: bool = False):
        """The row's mmengine Config with the profile, protocol, options and command line
        applied; returns (cfg, info, notes)."""
        from mmengine.config import Config

        if exp.config is None:
            raise PlanError(f"{spec.name}/{exp.key} is a published reference row: nothing to run.")
        path = Path(exp.config)
        path = path if path.is_absolute() else paths.config_path(exp.config)
        if path not in self._configs:  # parsing a config costs ~0.15 s: once per file
            self._configs[path] = Config.fromfile(str(path))
        cfg = copy.deepcopy(self._configs[path])
        data = self.data(exp.protocol.dataset)
        info = apply_profile(cfg, exp, self.s.profile, str(data.root), seed=seed,
                             world_size=self.s.world_size, iters=self.s.iters,
                             checkpoint_interval=self.s.checkpoint_interval,
                             full_width=full_width)
        notes = list(info.pop("notes"))
        if exp.protocol.eval_split == "test":  # no public labels: predictions for the server
            ds = cfg.test_dataloader.dataset
            ds.pipeline = [t for t in ds.pipeline if t["type"] != "LoadAnnotations"]
            cfg.test_evaluator.format_only = True
        # The harness evaluates once, with the test loop (mmengine's IterBasedTrainLoop would
        # also validate at the last iteration whatever val_interval says).
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        if self.s.amp:
            cfg.optim_wrapper.type = "AmpOptimWrapper"
            cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
        if self.s.cfg_options:
            before = cfg.to_dict()
            cfg.merge_from_dict(self.s.cfg_options)
            for key in self.s.cfg_options:
                old = _lookup(before, key)
                if old is not _MISSING:
                    notes.append(f"{key} {_lookup(cfg.to_dict(), key)!r} (--cfg-options) "
                                 f"replaces {old!r}")
            info["iters"] = cfg.train_cfg.max_iters
        return cfg, info, notes

    def _weights(self, cfg, exp: Experiment) -> tuple[dict, dict[str, str]]:
        """Pretrained weights of the row's backbone and the files its inference needs (paper
        profile: DeconvNet's structured-edge model): provenance and the path -> digest
        replacements for the hash."""
        if self.s.profile.name == "smoke":
            # Tiny backbones pretrained once on synthetic data (repro.smoke), loaded through
            # the same weight loaders as the paper profile's ImageNet files.
            from repro.smoke import apply_smoke_weights

            info = apply_smoke_weights(cfg, paths.cache_dir())
            replace = {info["path"]: f"<weights {info['sha256']}>"} if info.get("path") else {}
            return info, replace
        if self.s.profile.name != "paper":
            return {}, {}
        from repro.weights import require_proposals, require_weights

        info = require_weights(cfg)
        replace = {info["path"]: f"<weights {info['sha256']}>"} if info.get("path") else {}
        proposals = require_proposals(cfg)
        if proposals:
            info["proposals"] = proposals
            replace[proposals["structured_edges"]] = "<structured edges>"
        return info, replace

    def training(self, spec: TableSpec, exp: Experiment, seed: int) -> Training:
        """The row's training (the last phase's, for a row with phases), upstream included."""
        key = (spec.name, exp.key, seed)
        if key in self._trainings:
            return self._trainings[key]
        upstream, init_weights = None, None
        if exp.init_from:
            up_spec, up_exp = row_ref(spec, exp.init_from)
            if self.s.profile.name == "paper" and up_exp.released:
                init_weights = self._released(up_spec, up_exp)  # e.g. GDN from the baselines
            else:
                upstream = self.training(up_spec, up_exp, seed)
        cfg, info, _ = self.config(spec, exp, seed)
        data = self.data(exp.protocol.dataset)
        self._check(data, {s: exp.protocol.train_labels
                           for s in exp.protocol.train_split.split("+")})
        weights, replace = self._weights(cfg, exp)
        train_splits = exp.protocol.train_split.split("+")
        replace[str(data.root)] = f"<data {fingerprint(data, train_splits)}>"
        if init_weights:
            replace[init_weights["path"]] = f"<released {init_weights['sha256']}>"
        stem = Path(exp.config).name.removesuffix(".py")
        label = f"{spec.name}/{exp.key}@seed{seed}"
        t = upstream
        for i, (phase, pcfg) in enumerate(_phases(cfg, exp, info["iters"])):
            d = pcfg.to_dict()
            tkey = training_key(d, replace, t, init_weights)
            t = Training(key=tkey, label=label if phase is None else
                         f"{label} phase {i + 1} ({phase.name})", cfg=d,
                         work_dir=self.s.work_root / self.s.profile.name / f"{stem}-{tkey}",
                         iters=pcfg.train_cfg.max_iters, upstream=t, weights=weights,
                         init_weights=init_weights)
            init_weights = None  # later phases start from the earlier phase
        self._trainings[key] = t
        return t

    # -- a row ----------------------------------------------------------------------------

    def row(self, spec: TableSpec, exp: Experiment, seed: int, user_row: bool = False) -> RowPlan:
        data = self.data(exp.protocol.dataset)
        labels = _row_splits(exp)
        out = result_path(self.s.results_dir, self.s.profile.name, spec.name, exp.key, seed)
        static = {c.metric: c.static.__qualname__ for c in exp.static_cells}
        if not exp.trained_metrics:  # static cells only: computed from the built model
            h = paths.stable_hash([spec.version, exp.config, sorted(exp.options.items()), static])
            return self._finish(RowPlan(spec, exp, seed, self.s.profile.name, data, "", {}, h,
                                        out, action="static", user_row=user_row))
        released = None
        if self.s.released:
            labels = {exp.protocol.eval_split: labels[exp.protocol.eval_split]}
            if not exp.members:
                released = self._released(spec, exp)
                # The released model's own config (full width), the row's protocol, and the
                # evaluator options of the row.
                exp = dataclasses.replace(exp, config=released["config"], options={
                    k: v for k, v in exp.options.items() if k.split(".")[0].endswith("evaluator")})
        self._check(data, labels)
        cfg, info, notes = self.config(spec, exp, seed, full_width=self.s.released)
        if self.s.released:  # nothing trains: the schedule's settings do not apply
            notes = [n for n in notes if not n.startswith(("iterations", "checkpoint"))]
        replace = {str(data.root): f"<data {fingerprint(data, [exp.protocol.eval_split])}>"}
        training, members = None, ()
        if self.s.released and exp.members:
            cfg.model = _ensemble_model(self, spec, exp, seed, released=True)
            parts = [dict(name=m.pop("name"), path=m["checkpoint"], sha256=m.pop("sha256"))
                     for m in cfg.model.members]
            for m in parts:
                replace[m["path"]] = f"<released {m['sha256']}>"
            released = dict(name=" + ".join(m["name"] for m in parts), members=parts,
                            sha256=paths.stable_hash([m["sha256"] for m in parts]))
            info["weights"] = released
        elif released is not None:
            cfg.load_from = released["path"]
            replace[released["path"]] = f"<released {released['sha256']}>"
            info["weights"] = dict(released)
        elif exp.members:
            members = tuple(self.training(*row_ref(spec, m), seed) for m in exp.members)
            cfg.model = _ensemble_model(self, spec, exp, seed, replace=replace)
        else:
            training = self.training(spec, exp, seed)
            info["training_key"] = training.key
            if training.weights:
                info["weights"] = training.weights
            # The model is evaluated with the inputs it was trained on: the pretrained weights
            # set the data preprocessor's convention (e.g. torchvision's mean / std / RGB for
            # the smoke backbones) in the training config; the evaluation config gets the same.
            weights, weights_replace = self._weights(cfg, exp)
            replace.update(weights_replace)
            if weights.get("preprocessing", "kept") != "kept":
                notes.append(f"inputs in the {weights['convention']} convention (mean, std, "
                             "RGB) of its pretrained weights, for training and evaluation")
        crf = self._crf(spec, exp, seed, cfg, training, replace) if exp.protocol.crf else None
        _test_mode(cfg, exp)
        d = cfg.to_dict()
        h = paths.stable_hash([
            spec.version, _canonical(d, replace), training.key if training else None,
            [m.key for m in members], released["sha256"] if released else None,
            crf.key if isinstance(crf, CrfCV) else crf, static, self.s.overrides,
        ])
        return self._finish(RowPlan(
            spec, exp, seed, self.s.profile.name, data,
            fingerprint(data, list(labels)), d, h, out, training=training, members=members,
            released=released, crf=crf, info=info, overrides=self.s.overrides,
            notes=tuple(notes), user_row=user_row))

    def _finish(self, plan: RowPlan) -> RowPlan:
        if self.s.force or not plan.result_path.exists():
            return plan
        rows = read_file(plan.result_path)  # ResultsFileError: that table's problem (caller)
        if rows and all(r.config_hash == plan.hash and r.status in GOOD + ("not_reproduced",)
                        for r in rows):
            return dataclasses.replace(plan, action="done")
        return plan

    def _released(self, spec: TableSpec, exp: Experiment) -> dict:
        """The converted checkpoint of the row's released model (converted from the
        ``.caffemodel`` in the weights folder on first use: repro.released)."""
        from repro.released import RELEASED, require_released
        from repro.weights import _digest

        if not exp.released:
            raise PlanError(f"{spec.name}/{exp.key} has no released model: `repro list` names "
                            f"the rows that have one (under '{RELEASED_HEADING}').")
        path = require_released(exp.released)
        stat = path.stat()
        return dict(name=exp.released, path=str(path), config=RELEASED[exp.released].config,
                    sha256=_digest(str(path), stat.st_size, stat.st_mtime))

    def _crf(self, spec, exp, seed, cfg, training, replace: dict[str, str]) -> dict | CrfCV:
        from repro.crf.cv import protocol_grid

        crf = exp.protocol.crf
        if isinstance(crf, dict):
            return dict(crf)
        opts = dict(self.s.profile.crf_cv)
        # The smoke profile cuts the grid to a few points; otherwise the row's own grid
        # (DeepLab v1 for the rows that follow DeepLab ICLR 2015, v2 for the rest).
        if self.s.profile.name != "smoke":
            opts["grid"] = protocol_grid(crf)
        cv_cfg = copy.deepcopy(cfg)
        if exp.protocol.eval_split == "test":  # no labels: cross-validate on val, as DeepLab did
            val = dataclasses.replace(exp.protocol, eval_split="val")
            self._check(self.data(exp.protocol.dataset), {"val": val.eval_labels})
            apply_protocol(cv_cfg, val, cv_cfg.test_dataloader.dataset.data_root)
            cv_cfg.test_evaluator.format_only = False
            pipeline = cv_cfg.test_dataloader.dataset.pipeline
            if not any(t["type"] == "LoadAnnotations" for t in pipeline):
                pipeline.insert(1, dict(type="LoadAnnotations"))
        _test_mode(cv_cfg, dataclasses.replace(exp, protocol=dataclasses.replace(
            exp.protocol, eval_split="val")))
        data = self.data(exp.protocol.dataset)
        replace = dict(replace, **{str(data.root): f"<data {fingerprint(data, ['val'])}>"})
        d = cv_cfg.to_dict()
        key = paths.stable_hash([_canonical(d, replace), training.key if training else None,
                                 opts])
        out = (self.s.results_dir / "crf" / self.s.profile.name / spec.name
               / f"{exp.key}.seed{seed}.json")
        return CrfCV(key=key, grid=str(opts["grid"]), strategy=opts["strategy"],
                     num_images=int(opts["num_images"]), out=out, cfg=d)


def _phases(cfg, exp: Experiment, iters: int):
    """(phase or None, its config) for each training of the row (module docstring)."""
    from repro.profiles import set_iters

    if not exp.phases:
        return [(None, cfg)]
    out = []
    for phase in exp.phases:
        pcfg = copy.deepcopy(cfg)
        set_iters(pcfg, max(1, round(iters * phase.share)),
                  pcfg.default_hooks.checkpoint.interval)
        pcfg.optim_wrapper.optimizer.lr = pcfg.optim_wrapper.optimizer.lr * phase.lr_factor
        if phase.trainable:
            freeze_all_but(pcfg.optim_wrapper, phase.trainable)
        out.append((phase, pcfg))
    return out


_MISSING = object()


def _lookup(d: dict, dotted: str):
    node = d
    for part in dotted.split("."):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _without_annotations(pipeline: list) -> list:
    out = []
    for t in pipeline:
        if t["type"] == "LoadAnnotations":
            continue
        if t["type"] == "TestTimeAug":
            t = dict(t, transforms=[[x for x in group if x["type"] != "LoadAnnotations"]
                                    for group in t["transforms"]])
            t["transforms"] = [g for g in t["transforms"] if g]
        out.append(t)
    return out


def _test_mode(cfg, exp: Experiment) -> None:
    """Multi-scale testing: mmseg's TTA pipeline, our ProbTTAModel (fused probabilities)."""
    from mmengine.config import ConfigDict

    if not exp.protocol.multi_scale:
        return
    with_labels = exp.protocol.eval_split != "test"
    pipeline = cfg.get("tta_pipeline")
    if not pipeline:
        raise PlanError(f"{exp.config} has no `tta_pipeline`, which multi-scale testing needs: "
                        "inherit mmseg_configs/_base_/default_runtime.py or set one.")
    if not with_labels:
        pipeline = _without_annotations(pipeline)
    cfg.test_dataloader.dataset.pipeline = pipeline
    cfg.model = ConfigDict(type="ProbTTAModel", module=cfg.model)


def _ensemble_model(planner: Planner, spec: TableSpec, exp: Experiment, seed: int,
                    released: bool = False, replace: dict[str, str] | None = None):
    """EnsembleSegmentor over the member rows' models: their trained checkpoints (set by the
    runner), each with the input convention its training used, or, ``released``, their
    released models (name, checkpoint and digest here). ``replace`` collects the path ->
    digest replacements of the members' weight files for the row's hash."""
    from mmengine.config import ConfigDict

    members = []
    for key in exp.members:
        m_spec, member = row_ref(spec, key)
        entry: dict = dict(checkpoint=None)
        if released:
            entry = planner._released(m_spec, member)
            member = dataclasses.replace(member, config=entry.pop("config"), options={})
            entry["checkpoint"] = entry.pop("path")
        mcfg, _, _ = planner.config(m_spec, member, seed, full_width=released)
        if not released:
            (replace if replace is not None else {}).update(planner._weights(mcfg, member)[1])
        members.append(dict(model=mcfg.model.to_dict(), **entry))
    return ConfigDict(type="EnsembleSegmentor", members=members)


def writable(folder: Path) -> None:
    """Raise PlanError unless ``folder`` can be created and written (checked before work)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".repro-write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise PlanError(f"Cannot write to {folder} ({e.strerror or e}): choose a writable "
                        "folder (--results-dir / --work-dir) or fix its permissions.") from e


def plan_rows(selection: list[tuple[TableSpec, Experiment, bool]], settings: Settings) -> Plan:
    """Plan every (table, row, user_row) of ``selection`` for every seed. Rows of the
    selection that cannot run (a published reference row; no released model under
    ``--released``; an optional split absent) are listed in ``Plan.skipped`` with the reason,
    and so are the rows that depend on them."""
    writable(settings.results_dir / settings.profile.name)
    writable(settings.work_root)
    planner = Planner(settings)
    rows, skipped = [], []
    for spec, exp, user_row in selection:
        if exp.reference:
            continue
        if settings.released and exp.trained_metrics and not has_released(spec, exp):
            skipped.append((f"{spec.name}/{exp.key}", "no released model"))
            continue
        for seed in settings.seeds:
            try:
                rows.append(planner.row(spec, exp, seed, user_row=user_row))
            except SplitMissingError as e:
                if not e.optional:
                    raise
                skipped.append((f"{spec.name}/{exp.key}@seed{seed}", str(e)))
            except ResultsFileError:
                raise
    return Plan(rows, skipped)
