"""rnn-serve's one import package. The repository keeps its top-level folders (``service/``,
``model/``, ``cli/``, ``contract/``, ``graphs/``), and each is a sub-package here through a link of
the same name, so that the installed wheel adds ``rnn_serve`` to site-packages and nothing else.

- ``rnn_serve.service``: the HTTP server (``python -m rnn_serve.service``);
- ``rnn_serve.model``: training and conversion (torch and keras), and the shipped models;
- ``rnn_serve.cli``: the ``rnn-serve`` command;
- ``rnn_serve.contract`` and ``rnn_serve.graphs``: what a served model's graph looks like, shared
  by both sides.
"""
