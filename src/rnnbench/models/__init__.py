"""The models: one module per family, each registering its cells where they are defined
(`@MODELS.register("lstm")`); any other cell class is named by import path."""
from ..registry import import_submodules
from .network import MODELS, Network, build_network, memory_law, model_options, parameter_count

import_submodules(__name__, __path__)

__all__ = ["MODELS", "Network", "build_network", "memory_law", "model_options", "parameter_count"]
