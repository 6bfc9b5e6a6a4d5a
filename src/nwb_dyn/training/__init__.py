"""LightningModules pairing each model family with its inference and objective; the Trainer factory."""
