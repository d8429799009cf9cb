"""rnnbench: a reproducible study of why gated recurrent networks learn long-range dependencies."""
__version__ = "0.2.0"
