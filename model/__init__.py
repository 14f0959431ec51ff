"""The models rnn-serve serves, made: the seed's Elman RNN defined, trained and exported
(``network.py``, ``build.py``), `rnn-serve train` on a series (``series/``), and `rnn-serve
convert` from Keras, PyTorch and ONNX (``convert/``)."""
