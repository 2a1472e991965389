"""Model plugins, one module per paper's family (registered with mmseg when imported; importing
``repro.plugins`` imports them all). ``build.build_model`` builds a config's model and
``static`` computes the static table cells (parameter counts, layer sizes)."""
