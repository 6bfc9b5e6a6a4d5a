"""The extraction options of ``nwb-dyn fit`` reach ``DataConfig`` under their dotted keys, validated."""

from __future__ import annotations

import pytest

from nwb_dyn.api import OPTION_KEYS
from nwb_dyn.cli import build_parser
from nwb_dyn.config import resolve_config
from nwb_dyn.errors import ConfigError


def _data_config(*argv: str):
    args = build_parser().parse_args(["fit", "x.nwb", *argv])
    options = {name: getattr(args, name) for name in OPTION_KEYS if getattr(args, name, None) is not None}
    return resolve_config(None, {OPTION_KEYS[name]: value for name, value in options.items()}).data


def test_series_behaviour_and_selection_options_map_to_data_config() -> None:
    data = _data_config(
        "--series", "processing/ecephys/LFP/ElectricalSeries", "--inputs", "stimulus/a", "stimulus/b",
        "--targets", "processing/behavior/Position/hand", "--no-zscore", "--units-where", "quality == 'good'",
        "--intervals", "encoding_table",
    )
    assert data.series == "processing/ecephys/LFP/ElectricalSeries"
    assert data.inputs == ["stimulus/a", "stimulus/b"] and data.targets == ["processing/behavior/Position/hand"]
    assert data.zscore is False and data.units_where == "quality == 'good'" and data.intervals == "encoding_table"


def test_defaults_fit_units_with_zscored_series() -> None:
    data = _data_config()
    assert data.series is None and data.zscore is True and data.inputs == [] and data.intervals is None


@pytest.mark.parametrize(
    ("argv", "key"),
    [(("--series", " "), "data.series"), (("--inputs", "a", "a"), "data.inputs"), (("--intervals", ""), "data.intervals")],
)
def test_empty_or_repeated_paths_are_config_errors(argv: tuple[str, ...], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _data_config(*argv)
