"""Next-value prediction on noisy sinusoids of random frequency, phase and amplitude.

The model reads x_0..x_{T-1} and predicts x_{t+1} at every step. The baseline repeats the last
value (x_{t+1} ~ x_t); it is measured on the test split, as it has no closed form with noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ConfigError, require_non_negative, require_positive
from .base import REGRESSION_SEQ, TASKS, Metric, Task


@dataclass(frozen=True)
class SineOptions:
    min_frequency: float = 0.01  # cycles per step
    max_frequency: float = 0.1
    min_amplitude: float = 0.5
    max_amplitude: float = 1.5
    noise_std: float = 0.1
    solved_mse: float = 0.02


@TASKS.register("sine")
class SinePrediction(Task):
    output_kind = REGRESSION_SEQ
    min_length = 2
    metrics = (Metric("mse", higher_is_better=False, label="MSE", log_scale=True),)
    Options = SineOptions
    solved_option = "solved_mse"

    def validate_options(self, options, key):
        for name in ("min_frequency", "max_frequency", "min_amplitude", "max_amplitude", "solved_mse"):
            require_positive(f"{key}.{name}", getattr(options, name), integer=False)
        require_non_negative(f"{key}.noise_std", options.noise_std)
        if options.max_frequency < options.min_frequency:
            raise ConfigError(f"{key}.max_frequency: must be >= min_frequency ({options.min_frequency})")
        if options.max_amplitude < options.min_amplitude:
            raise ConfigError(f"{key}.max_amplitude: must be >= min_amplitude ({options.min_amplitude})")

    def generate(self, n, length, rng, options):
        freq = rng.uniform(options.min_frequency, options.max_frequency, (n, 1))
        amp = rng.uniform(options.min_amplitude, options.max_amplitude, (n, 1))
        phase = rng.uniform(0.0, 2 * np.pi, (n, 1))
        t = np.arange(length + 1)[None, :]
        series = amp * np.sin(2 * np.pi * freq * t + phase) + options.noise_std * rng.standard_normal((n, length + 1))
        series = series.astype(np.float32)
        return series[:, :-1, None], series[:, 1:]

    def describe(self, length, options, splits):
        x, y = splits["test"]
        repeat_last = float(np.mean((x[..., 0] - y) ** 2))
        return dict(input_size=1, output_size=1, baseline=repeat_last)
