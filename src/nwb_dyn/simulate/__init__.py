"""Ground-truth generators written as real NWB files (for demos, tests and benchmarks)."""

from nwb_dyn.simulate.nwb_session import write_signal_session, write_spiking_session
from nwb_dyn.simulate.switching_linear import simulate_switching_linear
from nwb_dyn.simulate.switching_lorenz import SwitchingLorenz, simulate_switching_lorenz

__all__ = [
    "SwitchingLorenz",
    "simulate_switching_linear",
    "simulate_switching_lorenz",
    "write_signal_session",
    "write_spiking_session",
]
