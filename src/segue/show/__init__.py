"""The show engine: one live show, transition by transition, for render, serve and the workbench."""
