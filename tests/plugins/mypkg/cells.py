"""Models a user brings, named by import path: the cell contract of rnnbench.models.network."""
import torch.nn as nn


class MyCell(nn.Module):
    """A GRU behind the contract, without the optional unroll: it trains, its diagnostics are
    recorded as not available."""

    def __init__(self, input_size, hidden_size, num_layers):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers, batch_first=True)

    def forward(self, x):
        return self.gru(x)


class WrongShape(MyCell):
    """Breaks the contract: returns the last step only."""

    def forward(self, x):
        out, state = self.gru(x)
        return out[:, -1], state


class Broken(MyCell):
    """Raises in training: every seed fails."""

    def forward(self, x):
        raise RuntimeError("broken on purpose")


class RaisesInConstructor(MyCell):
    """Raises while it is built: every seed fails, with this cause."""

    def __init__(self, input_size, hidden_size, num_layers):
        raise RuntimeError("cannot build on purpose")
