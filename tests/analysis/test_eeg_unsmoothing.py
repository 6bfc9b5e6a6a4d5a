"""benchmarks/eeg.py's undo_smoothing: the recording it restores smooths back to the reference it was given."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from scipy.ndimage import convolve1d

_SPEC = importlib.util.spec_from_file_location(
    "eeg_benchmark", Path(__file__).resolve().parents[2] / "benchmarks" / "eeg.py"
)
eeg_benchmark = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(eeg_benchmark)


def _smooth(signal: np.ndarray) -> np.ndarray:
    window = np.hanning(eeg_benchmark.SMOOTHING_WINDOW)
    return convolve1d(signal, window / window.sum(), axis=0, mode="reflect")


def _zscore(signal: np.ndarray) -> np.ndarray:
    return (signal - signal.mean(0)) / signal.std(0)


def test_restored_recording_smooths_back_to_the_reference_and_recovers_the_passband():
    rng = np.random.default_rng(0)
    recording = rng.standard_normal((3000, 4)) + np.sin(np.arange(3000) / 8.0)[:, None]  # white + a 3 Hz rhythm
    reference = _zscore(_smooth(recording))
    restored = eeg_benchmark.undo_smoothing(reference).astype(np.float64)
    assert restored.shape == reference.shape and restored.dtype == np.float64
    np.testing.assert_allclose(restored.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(restored.std(0), 1.0, rtol=1e-5)
    resmoothed = _zscore(_smooth(restored))
    assert np.sqrt(np.mean((resmoothed - reference) ** 2)) < 0.01
    # Below ~15 Hz (at 160 Hz sampling) the restoration is the recording itself; the smoothed one is not.
    frequencies = np.fft.rfftfreq(3000, 1 / 160)
    passband = frequencies < 15

    def band(signal):
        return np.fft.irfft(np.fft.rfft(signal, axis=0) * passband[:, None], 3000, axis=0)

    truth = _zscore(band(recording))
    assert np.mean(np.abs(_zscore(band(restored)) - truth)) < 0.06
    assert np.mean(np.abs(_zscore(band(reference)) - truth)) > 0.1


def test_filling_the_stopband_adds_noise_only_where_the_smoothing_removed_the_signal():
    rng = np.random.default_rng(1)
    reference = _zscore(_smooth(rng.standard_normal((3000, 3))))
    plain = eeg_benchmark.undo_smoothing(reference)
    filled = eeg_benchmark.undo_smoothing(reference, fill_stopband=True)
    frequencies = np.fft.rfftfreq(3000, 1 / 160)

    def power(signal, low, high):
        spectrum = np.abs(np.fft.rfft(signal, axis=0)) ** 2
        return spectrum[(frequencies > low) & (frequencies < high)].mean()

    assert power(filled, 40, 80) > 20 * power(plain, 40, 80)
    # In the passband the filled recording is the plain one rescaled (by the z-score): the same ratio everywhere.
    low, high = power(filled, 2, 6) / power(plain, 2, 6), power(filled, 6, 10) / power(plain, 6, 10)
    assert low < 1.0 and abs(low / high - 1.0) < 0.05
