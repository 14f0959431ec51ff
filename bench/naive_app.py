"""The baseline: the tutorial way to serve the same ONNX model with FastAPI.

FastAPI parses the body into ``list[list[list[float]]]`` through pydantic, the handler calls
``np.array`` and ``.tolist()``, and FastAPI's default JSON encoder writes the answer; the
session runs in the endpoint's thread pool. Run: uvicorn bench.naive_app:app
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

MODEL_DIR = os.environ.get("RNN_SERVE_MODEL_DIR", "model/artifacts")
options = ort.SessionOptions()
options.intra_op_num_threads = 1
sessions = {
    name: ort.InferenceSession(
        f"{MODEL_DIR}/{name}.onnx", options, providers=["CPUExecutionProvider"]
    )
    for name in ("co2", "seed-demo")
}
app = FastAPI()


class PredictRequest(BaseModel):
    inputs: list[list[list[float]]]


@app.post("/v1/models/{name}/predict")
def predict(name: str, request: PredictRequest) -> dict[str, object]:
    session = sessions[name]
    inputs = np.array(request.inputs, dtype=np.float32)
    hidden = session.get_outputs()[1].shape[1]
    state = np.zeros((len(inputs), hidden), dtype=np.float32)
    outputs, final = session.run(None, {"inputs": inputs, "initial_state": state})
    return {"model": name, "outputs": outputs.tolist(), "state": final.tolist()}
