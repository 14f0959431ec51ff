"""rnn-serve: serves Elman RNNs exported to ONNX over HTTP."""
