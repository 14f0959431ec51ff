"""ONNX graphs of recurrent stacks, shared by conversion (``model/``) and loading (``service/``).

``stack`` holds a model's weights in ONNX's own layout, ``native`` writes them as ONNX's RNN,
GRU and LSTM operators, and ``loop`` rewrites any graph's recurrent operators as Scan loops,
the faster graph for CPU batches. NumPy and onnx only: no torch, no web framework.
"""
