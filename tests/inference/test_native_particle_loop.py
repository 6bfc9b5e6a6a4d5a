"""The compiled loops of an SMC sweep (Poisson observations; the optimal proposal for Gaussian ones) against the torch
loops they replace."""

from __future__ import annotations

import pytest
import torch

from nwb_dyn.inference import particle_chain
from nwb_dyn.inference.smc import run_smc
from nwb_dyn.models.lowrank import LowRankRNN
from nwb_dyn.models.poisson_step import log_factorials, poisson_value_and_slope
from nwb_dyn.native import build
from nwb_dyn.native.particle_loop import (
    LoopInputs,
    PoissonData,
    ProposalMove,
    native_loop_available,
    run_particle_loop,
)

needs_native = pytest.mark.skipif(
    not native_loop_available(torch.float64, torch.device("cpu")),
    reason="the compiled particle loop is unavailable here (no C++ compiler, or NWB_DYN_NATIVE=0): the torch loop runs",
)

PARTICLES, BATCH, STEPS, CHANNELS = 7, 3, 9, 5

CASES = [  # (proposal, link, activation, inputs, masked)
    ("bootstrap", "softplus", "relu", 0, False),
    ("bootstrap", "exp", "clipped_relu", 2, True),
    ("encoder", "softplus", "clipped_relu", 0, False),
    ("encoder", "softplus", "tanh", 3, True),
    ("encoder", "exp", "identity", 0, False),
    ("encoder", "softplus", "relu", 2, True),
]


def _sweep(proposal, link, activation, inputs, masked, dtype, native, monkeypatch):
    """One differentiable sweep with the compiled loop on or off: its result and the gradients of Σ log p̂."""
    monkeypatch.setenv("NWB_DYN_NATIVE", "1" if native else "0")
    torch.manual_seed(0)
    model = LowRankRNN(rank=2, num_units=11, num_channels=CHANNELS, likelihood="poisson", activation=activation,
                       num_inputs=inputs, initial_noise_std_init=0.5, link=link).to(dtype)
    with torch.no_grad():
        model.h.uniform_(-1.0, 1.0)
    observations = torch.poisson(torch.full((BATCH, STEPS, CHANNELS), 1.5, dtype=dtype))
    mask = (torch.rand(BATCH, STEPS, CHANNELS) > 0.3).to(dtype) if masked else torch.ones_like(observations)
    external = torch.randn(BATCH, STEPS, inputs, dtype=dtype) if inputs else None
    encoder_output = None
    leaves = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if proposal == "encoder":
        encoder_output = (torch.randn(BATCH, STEPS, 2, dtype=dtype, requires_grad=True),
                          torch.randn(BATCH, STEPS, 2, dtype=dtype, requires_grad=True))
        leaves += list(encoder_output)
    result = run_smc(model, observations, mask, PARTICLES, proposal=proposal, inputs=external,
                     encoder_output=encoder_output, generator=torch.Generator().manual_seed(3), keep_clouds=True)
    gradients = torch.autograd.grad(result.log_marginal.sum(), leaves, allow_unused=True)
    return result, [torch.zeros_like(leaf) if grad is None else grad for leaf, grad in zip(leaves, gradients)]


@needs_native
@pytest.mark.parametrize("kept", [True, False], ids=["activations kept", "activations recomputed"])
@pytest.mark.parametrize(("proposal", "link", "activation", "inputs", "masked"), CASES)
def test_compiled_loop_equals_torch_loop_in_float64(proposal, link, activation, inputs, masked, kept, monkeypatch):
    # "kept" lets the sweep keep its activations; the compiled loop does only where no fused kernel recomputes them
    # faster (tanh here, and ranks above 8), so both of its backward paths are compared with torch's.
    if not kept:  # the path of sweeps too large to keep their activations: the backward pass recomputes them
        monkeypatch.setattr(particle_chain, "_KEPT_FLOATS", 0)
    compiled, compiled_grads = _sweep(proposal, link, activation, inputs, masked, torch.float64, True, monkeypatch)
    reference, reference_grads = _sweep(proposal, link, activation, inputs, masked, torch.float64, False, monkeypatch)
    torch.testing.assert_close(compiled.particles, reference.particles, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(compiled.log_weights, reference.log_weights, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(compiled.log_marginal, reference.log_marginal, rtol=1e-12, atol=1e-10)
    for index, (fast, plain) in enumerate(zip(compiled_grads, reference_grads)):
        torch.testing.assert_close(fast, plain, rtol=1e-9, atol=1e-10, msg=lambda text, i=index: f"leaf {i}: {text}")
    assert all(float(grad.abs().sum()) > 0 for grad in compiled_grads[:3])


GAUSSIAN_CASES = [  # (rank, activation, inputs, masked, readout, noise covariance)
    (3, "clipped_relu", 0, False, "affine", "full"),  # the EEG configuration: fused rank-3 kernels
    (2, "relu", 2, True, "affine", "diag"),  # per-sequence gains (masked), inputs
    (4, "identity", 0, False, "one_to_one", "full"),
    (1, "clipped_relu", 3, True, "one_to_one", "diag"),
    (3, "tanh", 2, False, "affine", "full"),  # no fused kernel: the general loops
    (5, "clipped_relu", 0, True, "affine", "full"),
    (8, "relu", 2, False, "affine", "diag"),  # the fused kernels' largest rank
    (9, "clipped_relu", 0, True, "affine", "full"),  # above it: the general loops
]


def _optimal_sweep(
    rank, activation, inputs, masked, readout, covariance, dtype, native, monkeypatch, differentiable=True
):
    """One sweep of the optimal proposal (Gaussian observations) with the compiled loop on or off, and the gradients
    of Σ log p̂ (none for an evaluation sweep, whose log-weights are the loop's own)."""
    monkeypatch.setenv("NWB_DYN_NATIVE", "1" if native else "0")
    torch.manual_seed(0)
    model = LowRankRNN(rank=rank, num_units=11, num_channels=CHANNELS, likelihood="gaussian", activation=activation,
                       num_inputs=inputs, noise_covariance=covariance, readout=readout,
                       initial_noise_std_init=0.5, observation_noise_std_init=0.5).to(dtype)
    with torch.no_grad():
        model.h.uniform_(-1.0, 1.0)
    observations = torch.randn(BATCH, STEPS, CHANNELS, dtype=dtype)
    mask = (torch.rand(BATCH, STEPS, CHANNELS) > 0.3).to(dtype) if masked else torch.ones_like(observations)
    external = torch.randn(BATCH, STEPS, inputs, dtype=dtype) if inputs else None
    leaves = [parameter for parameter in model.parameters() if parameter.requires_grad]
    with torch.set_grad_enabled(differentiable):
        result = run_smc(model, observations, mask, PARTICLES, proposal="optimal", inputs=external,
                         generator=torch.Generator().manual_seed(3), keep_clouds=True)
    if not differentiable:
        return result, []
    gradients = torch.autograd.grad(result.log_marginal.sum(), leaves, allow_unused=True)
    return result, [torch.zeros_like(leaf) if grad is None else grad for leaf, grad in zip(leaves, gradients)]


@needs_native
@pytest.mark.parametrize("kept", [True, False], ids=["activations kept", "activations recomputed"])
@pytest.mark.parametrize(("rank", "activation", "inputs", "masked", "readout", "covariance"), GAUSSIAN_CASES)
def test_compiled_optimal_proposal_equals_torch_loop_in_float64(
    rank, activation, inputs, masked, readout, covariance, kept, monkeypatch
):
    if not kept:
        monkeypatch.setattr(particle_chain, "_KEPT_FLOATS", 0)
    case = (rank, activation, inputs, masked, readout, covariance, torch.float64)
    compiled, compiled_grads = _optimal_sweep(*case, True, monkeypatch)
    reference, reference_grads = _optimal_sweep(*case, False, monkeypatch)
    torch.testing.assert_close(compiled.particles, reference.particles, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(compiled.log_weights, reference.log_weights, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(compiled.log_marginal, reference.log_marginal, rtol=1e-12, atol=1e-10)
    for index, (fast, plain) in enumerate(zip(compiled_grads, reference_grads)):
        torch.testing.assert_close(fast, plain, rtol=1e-9, atol=1e-10, msg=lambda text, i=index: f"leaf {i}: {text}")
    # m, n, h, the decay and the readout all receive gradient (so the comparison above is not of zeros)
    assert all(float(grad.abs().sum()) > 0 for grad in compiled_grads[:4])


@needs_native
@pytest.mark.parametrize(("rank", "activation", "inputs", "masked", "readout", "covariance"), GAUSSIAN_CASES[:3])
def test_compiled_optimal_proposal_evaluation_sweep_equals_torch_loop(
    rank, activation, inputs, masked, readout, covariance, monkeypatch
):
    """Without gradients the particles and log-weights are the compiled loop's own, predictive weight included."""
    case = (rank, activation, inputs, masked, readout, covariance, torch.float64)
    compiled, _ = _optimal_sweep(*case, True, monkeypatch, differentiable=False)
    reference, _ = _optimal_sweep(*case, False, monkeypatch, differentiable=False)
    torch.testing.assert_close(compiled.particles, reference.particles, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(compiled.log_weights, reference.log_weights, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(compiled.log_marginal, reference.log_marginal, rtol=1e-12, atol=1e-10)


@needs_native
def test_the_optimal_proposal_runs_compiled(monkeypatch):
    """The compiled loop is what runs for the optimal proposal (its forward pass and its backward pass)."""
    calls = []
    original = particle_chain.run_particle_loop_backward
    monkeypatch.setattr(particle_chain, "run_particle_loop_backward",
                        lambda *args: calls.append("backward") or original(*args))
    monkeypatch.setattr(particle_chain, "_torch_loop", lambda *args: pytest.fail("the torch loop ran"))
    _optimal_sweep(3, "clipped_relu", 0, False, "affine", "full", torch.float64, True, monkeypatch)
    assert calls == ["backward"]


@needs_native
@pytest.mark.parametrize("kept", [True, False], ids=["activations kept", "activations recomputed"])
def test_compiled_optimal_proposal_in_float32_matches_the_torch_loop(kept, monkeypatch):
    if not kept:
        monkeypatch.setattr(particle_chain, "_KEPT_FLOATS", 0)
    case = (3, "clipped_relu", 2, False, "affine", "full", torch.float32)
    compiled, compiled_grads = _optimal_sweep(*case, True, monkeypatch)
    reference, reference_grads = _optimal_sweep(*case, False, monkeypatch)
    torch.testing.assert_close(compiled.log_marginal, reference.log_marginal, rtol=1e-5, atol=1e-4)
    for fast, plain in zip(compiled_grads, reference_grads):
        torch.testing.assert_close(fast, plain, rtol=1e-3, atol=1e-4)


@needs_native
def test_without_the_compiled_backward_the_torch_backward_recomputes(monkeypatch):
    reference, reference_grads = _sweep("encoder", "softplus", "clipped_relu", 2, True, torch.float64, False,
                                        monkeypatch)
    monkeypatch.setattr(particle_chain, "run_particle_loop_backward", lambda *args: None)
    compiled, compiled_grads = _sweep("encoder", "softplus", "clipped_relu", 2, True, torch.float64, True, monkeypatch)
    torch.testing.assert_close(compiled.log_marginal, reference.log_marginal, rtol=1e-12, atol=1e-10)
    for fast, plain in zip(compiled_grads, reference_grads):
        torch.testing.assert_close(fast, plain, rtol=1e-9, atol=1e-10)


@needs_native
def test_compiled_loop_in_float32_matches_the_torch_loop(monkeypatch):
    compiled, compiled_grads = _sweep("encoder", "softplus", "relu", 2, False, torch.float32, True, monkeypatch)
    reference, reference_grads = _sweep("encoder", "softplus", "relu", 2, False, torch.float32, False, monkeypatch)
    torch.testing.assert_close(compiled.log_marginal, reference.log_marginal, rtol=1e-5, atol=1e-4)
    for fast, plain in zip(compiled_grads, reference_grads):
        torch.testing.assert_close(fast, plain, rtol=1e-3, atol=1e-4)


@needs_native
@pytest.mark.parametrize("link", ["softplus", "exp"])
def test_float32_poisson_terms_are_accurate_over_the_whole_range(link):
    """One step (T = 1) whose particles sweep η = z over [−60, 60] (softplus) or [−60, 40] (exp): the compiled
    float32 exp/log approximations against torch in float64."""
    top = 60.0 if link == "softplus" else 40.0
    latents = torch.linspace(-60.0, top, 4001, dtype=torch.float64)
    particles = latents.numel()
    counts = torch.tensor([[0.0, 1.0, 7.0]], dtype=torch.float64)  # (B = 1, D = 3)
    readout = torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64)  # (R = 1, D)
    offsets = torch.tensor([[0.0, -0.5, 0.5]], dtype=torch.float64)
    shift = latents.reshape(1, particles, 1, 1)  # z = 0 + shift
    expected, expected_slope = poisson_value_and_slope(
        counts, shift[0], readout, offsets, None, link, log_factorials(counts, torch.ones_like(counts))
    )

    def as32(tensor):
        return tensor.to(torch.float32)

    data = PoissonData(as32(counts[None]), as32(offsets[None]), None,
                       as32(log_factorials(counts, torch.ones_like(counts))[None]), as32(readout), link)
    loop = LoopInputs(torch.zeros(1, 1), None, torch.tensor(0.9), torch.zeros(2, 1), torch.zeros(1, 2),
                      torch.zeros(2), "relu", torch.zeros(1, 1, dtype=torch.float64), False)
    output = run_particle_loop(ProposalMove(None, as32(shift), None, None), data, loop, with_slopes=True)
    value, slope = output.likelihoods[0].double(), output.slopes[0].double()
    scale = expected.abs().clamp(min=1.0)
    assert float(((value - expected).abs() / scale).max()) < 2e-6
    assert float(((slope - expected_slope).abs() / expected_slope.abs().clamp(min=1.0)).max()) < 2e-6


def test_switched_off_the_torch_loop_runs(monkeypatch):
    monkeypatch.setenv("NWB_DYN_NATIVE", "0")
    assert not native_loop_available(torch.float32, torch.device("cpu"))
    move = ProposalMove(None, torch.zeros(2, 3, 1, 1), None, None)
    data = PoissonData(torch.zeros(2, 1, 1), torch.zeros(2, 1, 1), None, torch.zeros(2, 1), torch.ones(1, 1), "exp")
    loop = LoopInputs(torch.zeros(1, 1), None, torch.tensor(0.9), torch.zeros(2, 1), torch.zeros(1, 2),
                      torch.zeros(2), "relu", torch.zeros(2, 1, dtype=torch.float64), False)
    assert run_particle_loop(move, data, loop, with_slopes=False) is None


def test_a_failed_build_leaves_no_library_and_falls_back(tmp_path, monkeypatch, caplog):
    if build._compiler() is None:
        pytest.skip("no C++ compiler here (set CXX): nothing to build")
    monkeypatch.setenv("NWB_DYN_NATIVE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "broken.cpp"
    source.write_text("this is not C++\n")
    assert build.load_library(source) is None
    assert "could not build broken.cpp" in caplog.text
    assert list((tmp_path / "cache").iterdir()) == []  # the temporary output was removed


def test_without_a_compiler_nothing_is_built(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "_compiler", lambda: None)
    monkeypatch.setenv("NWB_DYN_NATIVE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "kernel.cpp"
    source.write_text('extern "C" int one() { return 1; }\n')
    assert build.load_library(source) is None
    assert not (tmp_path / "cache").exists()


def test_a_built_library_is_cached_by_source_and_reused(tmp_path, monkeypatch):
    if build._compiler() is None:
        pytest.skip("no C++ compiler here (set CXX): nothing to build")
    monkeypatch.setenv("NWB_DYN_NATIVE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "kernel.cpp"
    source.write_text('extern "C" int answer() { return 42; }\n')
    assert build.load_library(source).answer() == 42
    first = sorted((tmp_path / "cache").iterdir())
    build.load_library.cache_clear()
    assert build.load_library(source).answer() == 42
    assert sorted((tmp_path / "cache").iterdir()) == first  # reused, not rebuilt under another name
    source.write_text('extern "C" int answer() { return 43; }\n')
    build.load_library.cache_clear()
    assert build.load_library(source).answer() == 43
    assert len(list((tmp_path / "cache").iterdir())) == 2
