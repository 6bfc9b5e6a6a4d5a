"""Inference algorithms as pure functions over tensors: variational SMC, forward–backward, Viterbi."""
