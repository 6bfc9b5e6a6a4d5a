"""Mock factories for the ``ndx-dyn`` types and small synthetic fits, for our tests and for users' tests.

Named like ``pynwb.testing.mock``: ``mock_<TypeName>(**overrides)`` returns a small, valid container.
"""

from nwb_dyn.testing.mock import (
    mock_DiscreteStateSeries,
    mock_DynamicsModel,
    mock_FitProvenance,
    mock_FixedPointTable,
    mock_GeneratedSeries,
    mock_LatentSeries,
    mock_RateSeries,
    mock_StateProbabilitySeries,
    mock_StateSegments,
)
from nwb_dyn.testing.synthetic import mock_fit_record, mock_model_products, mock_neural_data

__all__ = [
    "mock_DiscreteStateSeries",
    "mock_DynamicsModel",
    "mock_FitProvenance",
    "mock_FixedPointTable",
    "mock_GeneratedSeries",
    "mock_LatentSeries",
    "mock_RateSeries",
    "mock_StateProbabilitySeries",
    "mock_StateSegments",
    "mock_fit_record",
    "mock_model_products",
    "mock_neural_data",
]
