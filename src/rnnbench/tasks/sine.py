"""Next-value prediction on noisy sinusoids of random frequency, phase and amplitude.

The model reads x_0..x_{T-1} and predicts x_{t+1} at every step. This is short-range prediction,
not a test of long memory: a noiseless sinusoid obeys x_{t+1} = 2cos(w) x_t - x_{t-1}, so two past
values determine the next. The report gives it no critical length and reads it against:
- repeat-last (x_{t+1} ~ x_t): the dataset's baseline, measured on the test split;
- AR(k) least-squares predictors for k in AR_ORDERS, fitted on the training split, each position
  predicted from the values it has seen (at most k), exactly as the recurrent model sees them;
- the noise floor noise_std^2: no predictor of the next value can beat the fresh noise in it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ConfigError, require_non_negative, require_positive
from .base import REGRESSION_SEQ, TASKS, Metric, Task

AR_ORDERS = (1, 2, 4, 8)


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
    memory_task = False

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
        train_x, train_y = splits["train"]
        ar = {str(k): autoregressive_mse(train_x[..., 0], train_y, x[..., 0], y, k) for k in AR_ORDERS if k < length}
        return dict(input_size=1, output_size=1, baseline=repeat_last,
                    extra={"ar_mse": ar, "noise_floor": options.noise_std ** 2})


def lagged(x: np.ndarray, t: int, order: int) -> np.ndarray:
    """[n, order + 1]: x[:, t-order+1 .. t] and a constant 1 (the intercept)."""
    return np.concatenate([x[:, t - order + 1 : t + 1], np.ones((x.shape[0], 1))], axis=1)


def autoregressive_mse(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, y: np.ndarray, order: int) -> float:
    """Test MSE of AR(order) fitted by least squares on the training split. Position t predicts
    y[:, t] from x[:, max(0, t-order+1) .. t] with the AR(min(order, t+1)) fit: the same values a
    recurrent model has read by then."""
    fits = {}
    for width in range(1, order + 1):
        rows = [lagged(train_x, t, width) for t in range(width - 1, train_x.shape[1])]
        targets = [train_y[:, t] for t in range(width - 1, train_x.shape[1])]
        fits[width] = np.linalg.lstsq(np.concatenate(rows), np.concatenate(targets), rcond=None)[0]
    errors = [(lagged(x, t, min(order, t + 1)) @ fits[min(order, t + 1)] - y[:, t]) ** 2 for t in range(x.shape[1])]
    return float(np.mean(errors))
