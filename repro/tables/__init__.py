"""Paper tables: each paper module lists its tables in ``TABLES`` (plain data, no
registration on import); the registry (``registry.py``) reads the modules named in
:data:`BUILTIN` when a table is first asked for, then the ``repro.tables`` entry points."""

#: The modules of the built-in papers' tables, read in this order.
BUILTIN = ("repro.tables.deconvnet", "repro.tables.dilation", "repro.tables.gcn",
           "repro.tables.gdn")
