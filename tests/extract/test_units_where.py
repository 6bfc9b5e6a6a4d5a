"""``--units-where``: the selected rows equal a brute-force filter; anything beyond the small grammar is refused."""

from __future__ import annotations

import numpy as np
import pytest
from pynwb.misc import Units

from nwb_dyn.errors import ConfigError, ExtractionError
from nwb_dyn.extract.units_where import select_units

QUALITY = ["good", "mua", "good", "noise", "good", "mua"]
SNR = [4.0, 1.5, 2.5, 0.2, 8.0, 3.0]
ISOLATED = [True, False, True, False, False, True]


def _units() -> Units:
    table = Units()
    table.add_column("quality", "curation label")
    table.add_column("snr", "signal-to-noise")
    table.add_column("isolated", "passes isolation")
    for quality, snr, isolated in zip(QUALITY, SNR, ISOLATED):
        table.add_unit(spike_times=[0.1, 0.2], quality=quality, snr=snr, isolated=isolated)
    return table


@pytest.mark.parametrize(
    ("expression", "oracle"),
    [
        ("quality == 'good'", lambda q, s, i: q == "good"),
        ("quality != 'noise' and snr >= 2.5", lambda q, s, i: q != "noise" and s >= 2.5),
        ("quality in ['good', 'mua'] or snr < 0.5", lambda q, s, i: q in ("good", "mua") or s < 0.5),
        ("not (quality == 'mua')", lambda q, s, i: q != "mua"),
        ("2 < snr <= 4", lambda q, s, i: 2 < s <= 4),
        ("isolated and quality not in ('mua',)", lambda q, s, i: i and q != "mua"),
        ("snr > -1", lambda q, s, i: s > -1),
        ("3 <= snr", lambda q, s, i: 3 <= s),
        ("id in [0, 5] or snr == 0.2", lambda q, s, i: s in (4.0, 3.0, 0.2)),
    ],
)
def test_selection_matches_a_row_by_row_filter(expression: str, oracle) -> None:
    expected = [bool(oracle(q, s, i)) for q, s, i in zip(QUALITY, SNR, ISOLATED)]
    assert select_units(_units(), expression, "f.nwb").tolist() == expected


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "quality.upper() == 'GOOD'",
        "snr + 1 > 2",
        "snr > 2 or [x for x in ()]",
        "lambda: 1",
        "snr > 2 if True else False",
    ],
)
def test_code_and_unsupported_syntax_are_refused(expression: str) -> None:
    with pytest.raises((ConfigError, ExtractionError), match="units-where"):
        select_units(_units(), expression, "f.nwb")


def test_unknown_column_names_the_file_and_lists_columns() -> None:
    with pytest.raises(ExtractionError, match=r"f\.nwb.*no column 'label'.*quality"):
        select_units(_units(), "label == 'good'", "f.nwb")


def test_comparing_text_with_a_number_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="quoted string"):
        select_units(_units(), "quality > 3", "f.nwb")


def test_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid expression"):
        select_units(_units(), "quality ==", "f.nwb")


def test_selection_is_a_boolean_array_per_unit() -> None:
    selected = select_units(_units(), "snr > 100", "f.nwb")
    assert selected.dtype == bool and selected.shape == (6,) and not selected.any()
    assert np.array_equal(select_units(_units(), "isolated", "f.nwb"), ISOLATED)
