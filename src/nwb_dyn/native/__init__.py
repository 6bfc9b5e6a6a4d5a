"""Compiled kernels for the few loops where per-operation dispatch, not arithmetic, sets the speed.

Each kernel has a pure-torch twin that stays the reference: the compiled one is built on first use with the
machine's C++ compiler (no torch headers, about a second), cached per source and CPU, and used only when it built.
``NWB_DYN_NATIVE=0`` turns every kernel off.
"""
