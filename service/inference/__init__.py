"""The inference core: numpy and ONNX Runtime, nothing of HTTP."""
