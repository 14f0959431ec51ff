"""What every request must satisfy before it runs: the model's shapes and the size limits.

Front ends hand over arrays of any shape; these checks are the only ones that compare them
with the model, so /v1 and /v2 refuse the same things with the same words.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn_serve.service.errors import InvalidInput, PayloadTooLarge
from rnn_serve.service.runtime.loader import ServedModel
from rnn_serve.service.settings import Settings

Array = NDArray[np.float32]
Series = list[NDArray[np.floating[Any]]]


class Limits:
    def __init__(self, settings: Settings) -> None:
        self.max_elements = settings.max_elements
        self.max_batch = settings.max_batch
        self.max_steps = settings.max_steps
        self.max_horizon = settings.max_horizon

    def check_inputs(self, model: ServedModel, inputs: Array, state: Array | None) -> None:
        sig = model.predictor.signature
        if inputs.ndim != 3:
            raise _invalid(
                f"inputs has shape {list(inputs.shape)}, expected [sequences, steps, "
                f"{sig.features}]",
                "inputs",
                "shape",
            )
        batch, steps, features = inputs.shape
        self.check_size(inputs.size, batch, steps)
        if features != sig.features:
            raise _invalid(
                f"inputs has {features} features per step, model {model.name!r} expects "
                f"{sig.features}",
                "inputs",
                "features",
            )
        if state is None:
            return
        if not sig.has_initial_state:
            raise _invalid(
                f"model {model.name!r} takes no initial_state: its graph has no such input",
                "initial_state",
                "unsupported",
            )
        if state.shape != (batch, sig.state_size):
            raise _invalid(
                f"initial_state has shape {list(state.shape)}, expected [{batch}, "
                f"{sig.state_size}]: one row of {sig.state_size} per input sequence",
                "initial_state",
                "shape",
            )

    def check_forecast(self, model: ServedModel, series: Series, horizon: int, steps: int) -> None:
        """What every forecast must satisfy, stateless or in a sequence: a model that can
        forecast, a horizon and a size within the limits (``steps`` the network will run)."""
        if not model.can_forecast:
            raise _invalid(
                f"model {model.name!r} cannot forecast: forecasting needs a manifest with "
                "preprocessing and a window, and outputs as wide as the inputs",
                "model",
                "unsupported",
            )
        if horizon > self.max_horizon:
            raise _invalid(
                f"horizon {horizon} exceeds the limit of {self.max_horizon}", "horizon", "limit"
            )
        self.check_size(sum(len(s) for s in series), len(series), steps)
        if model.transform is not None and model.transform.log:
            for index, values in enumerate(series):
                if np.any(values <= 0):
                    position = int(np.flatnonzero(values <= 0)[0])
                    raise InvalidInput(
                        f"series[{index}] has {values[position]:g} at position {position}; "
                        f"model {model.name!r} takes logs, so every value must be positive",
                        loc=["series", index, position],
                        kind="positive",
                    )

    def windows(
        self, model: ServedModel, series: Series, horizon: int, names: list[str] | None = None
    ) -> NDArray[Any]:
        """The last ``window`` values of each series, stacked, once every check has passed."""
        window = model.window or 0
        self.check_forecast(model, series, horizon, window + horizon)
        for index, values in enumerate(series):
            if len(values) < window:
                named = f" ({names[index]!r})" if names else ""
                raise InvalidInput(
                    f"series[{index}]{named} has {len(values)} values; model {model.name!r} "
                    f"reads the last {window}, so send at least {window}",
                    loc=["series", index],
                    kind="too_short",
                )
        return np.stack([values[-window:] for values in series])

    def check_size(self, elements: int, batch: int, steps: int) -> None:
        for what, value, limit in (
            ("numbers", elements, self.max_elements),
            ("sequences", batch, self.max_batch),
            ("steps", steps, self.max_steps),
        ):
            if value > limit:
                raise PayloadTooLarge(f"request has {value} {what}, the limit is {limit}")


def _invalid(message: str, field: str, kind: str) -> InvalidInput:
    return InvalidInput(message, loc=[field], kind=kind)
