"""The runtime: ONNX Runtime sessions, the model directory and the cost of a call. It knows
numpy and ONNX Runtime, and nothing of the engine or HTTP above it."""
