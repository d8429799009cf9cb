"""Why it happens: gradient flow through time and gate activations of a run's model."""
from .gate_activity import gate_statistics, gate_traces
from .gradient_flow import GradientFlow, decay_fit, gradient_flow, state_gradient_norms

__all__ = ["GradientFlow", "decay_fit", "gate_statistics", "gate_traces", "gradient_flow", "state_gradient_norms"]
