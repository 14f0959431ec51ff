"""Defines, trains and exports the Elman RNN that rnn-serve serves."""
