"""rnn-serve: serves Elman RNNs exported to ONNX over HTTP."""

__version__ = "0.1.0"
