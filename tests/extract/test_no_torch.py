"""``extract`` is pure NWB/numpy: importing it (and running it) must not import torch (DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys, datetime, numpy as np
from pynwb import NWBFile
from nwb_dyn.config import DataConfig
from nwb_dyn.extract import describe_fittable, extract_neural_data
nwbfile = NWBFile(session_description="s", identifier="i", session_start_time=datetime.datetime.now().astimezone())
nwbfile.add_unit(spike_times=np.linspace(0.0, 5.0, 100))
data = extract_neural_data(nwbfile, DataConfig(bin_width_s=0.1), 0, "in-memory")
describe_fittable(nwbfile)
print(data.values.shape, "torch" in sys.modules)
"""


def test_extraction_never_imports_torch() -> None:
    completed = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    assert completed.stdout.strip().splitlines()[-1] == "(5, 10, 1) False"
