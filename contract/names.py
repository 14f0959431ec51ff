"""The tensor names every served graph uses: (batch, steps, features) in, per-step outputs and
the final state out, and an optional initial state (zeros when absent)."""

INPUTS, INITIAL_STATE, OUTPUTS, STATE = "inputs", "initial_state", "outputs", "state"
