"""HTTP: translates requests into calls on the inference core and arrays back into responses."""
