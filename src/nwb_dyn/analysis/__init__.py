"""Analyses of fitted models: posterior summaries, fixed points, flow fields, generation, metrics (no file writing)."""
