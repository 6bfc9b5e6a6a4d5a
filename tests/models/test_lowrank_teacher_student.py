"""Teacher–student recovery on the published Gaussian oscillator teacher, CI-sized (algorithms.md §8.5).

The full experiment (students from scratch, 1000 epochs) is ``benchmarks/teacher_student.py``. Here the student
starts from the teacher's weights perturbed by 10 % and from 65 % of the true latent noise SD, and a short fit with
the optimal proposal (noise parameters on a larger learning rate, so that 220 steps suffice) must bring the latent
noise SD within 20 % of the teacher's and keep the oscillation frequency within 10 % — the noise level is what a poor
proposal fails to recover (paper Fig. S5).
"""

from __future__ import annotations

from pathlib import Path

import torch

from nwb_dyn.inference.smc import run_smc
from nwb_dyn.simulate.lowrank_teacher import load_teacher, oscillation_frequency, unit_space_noise_std


def test_student_recovers_latent_noise_and_frequency_of_gaussian_teacher(shared_dir: Path) -> None:
    torch.manual_seed(0)
    path = shared_dir / "data" / "teacher_rnns" / "osc_rnn_N20_rank2.npz"
    teacher = load_teacher(path, "gaussian", latent_noise_std=0.2, observation_noise_std=0.1)
    _, data = teacher.generate(100, 75, generator=torch.Generator().manual_seed(1))
    student = load_teacher(path, "gaussian", latent_noise_std=0.13, observation_noise_std=0.1)
    with torch.no_grad():
        for weights in (student.m, student.n, student.h):
            weights.mul_(1 + 0.1 * torch.randn(weights.shape))
    assert abs(unit_space_noise_std(student) / unit_space_noise_std(teacher) - 1) > 0.3  # starts far off
    noise = [*student.transition_noise.parameters(), *student.initial_noise.parameters(),
             *student.likelihood.parameters()]
    weights = [p for p in student.parameters() if all(p is not q for q in noise)]
    optimiser = torch.optim.RAdam([{"params": noise, "lr": 5e-2}, {"params": weights, "lr": 1e-3}])
    generator = torch.Generator().manual_seed(2)
    for _ in range(22):
        for batch in data[torch.randperm(100, generator=generator)].split(10):
            result = run_smc(student, batch, torch.ones_like(batch), 16, proposal="optimal", generator=generator)
            loss = -(result.log_marginal / batch.shape[1]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    noise_error = abs(unit_space_noise_std(student) / unit_space_noise_std(teacher) - 1)
    frequency_error = abs(oscillation_frequency(student) / oscillation_frequency(teacher) - 1)
    assert noise_error < 0.2, noise_error
    assert frequency_error < 0.1, frequency_error

