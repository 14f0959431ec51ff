"""Users' own series for `rnn-serve train`: reading, regularising and checking them."""
