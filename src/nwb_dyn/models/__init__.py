"""Generative models as ``torch.nn.Module``s (pure torch, usable without NWB or Lightning)."""
