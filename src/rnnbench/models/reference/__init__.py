"""The from-scratch reference: vanilla RNN and LSTM in NumPy, written to be read.

`cells` holds forward and backpropagation through time with every gate equation on its own line;
`network` a whole character model (cell + softmax head) that
loads trained torch weights and samples text with a temperature. The weights use PyTorch's layout,
so the same numbers run through both implementations and the tests compare them in float64.
"""
