"""Rows named from other rows, and which rows have a ``--released`` mode.

Pure functions of the table specs, shared by the planner (:mod:`repro.plan`) and `repro list`
(:mod:`repro.report`): importing this module loads neither torch, mmseg nor mmengine.
"""

from __future__ import annotations

from repro.tables.registry import Experiment, TableSpec, get_table

#: The heading under which `repro list` names the rows with a ``--released`` mode (the
#: planner's error for a row without one points there).
RELEASED_HEADING = "rows with a --released mode"


def row_ref(spec: TableSpec, key: str) -> tuple[TableSpec, Experiment]:
    """A row named from another row: ``key`` in the same table or ``paper/tableN/key``."""
    if "/" in key:
        table, _, key = key.rpartition("/")
        spec = get_table(table)
    return spec, spec.experiment(key)


def released_models(spec: TableSpec, exp: Experiment) -> tuple[str, ...]:
    """The released models (repro.released registry names) that ``repro run TABLE/ROW
    --released`` evaluates: the row's own, or, for an ensemble, its members' when every member
    has one; empty when the row has no released mode."""
    if exp.members:
        names = tuple(row_ref(spec, m)[1].released for m in exp.members)
        return names if all(names) else ()
    return (exp.released,) if exp.released else ()


def has_released(spec: TableSpec, exp: Experiment) -> bool:
    """The row has a released model, or is an ensemble of rows that all have one."""
    return bool(released_models(spec, exp))
