"""rnn-serve: serves recurrent networks (Elman RNN, GRU and LSTM, stacked or not) in ONNX over
HTTP: per-step outputs and final states, forecasts with prediction intervals, and sequences
whose state the server keeps."""

__version__ = "0.1.0"
