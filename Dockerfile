# rnn-serve image. CPU by default; `--build-arg VARIANT=gpu` installs onnxruntime-gpu with its
# CUDA and cuDNN libraries from PyPI, for `docker run --gpus all`. No torch, no compilers.
ARG PYTHON_IMAGE=python:3.11-slim

# --- dependencies, installed before any source is copied so they cache across code changes
FROM ${PYTHON_IMAGE} AS deps
ARG VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml requirements/lock.txt scripts/runtime-requirements.py ./
# Then drop what serving never uses: pip itself, test suites, JavaScript source maps.
RUN python -m venv /opt/venv \
 && python runtime-requirements.py "${VARIANT}" > requirements.txt \
 && /opt/venv/bin/pip install --no-compile -c lock.txt -r requirements.txt \
 && /opt/venv/bin/pip uninstall -q -y pip setuptools \
 && find /opt/venv -depth \( -name tests -type d -o -name '*.map' \) -exec rm -rf {} +

# --- locust, for the compose `loadtest` profile
FROM ${PYTHON_IMAGE} AS loadtest
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/locust && /opt/locust/bin/pip install locust==2.47.0
COPY bench/locustfile.py /locust/locustfile.py
USER 10001
ENTRYPOINT ["/opt/locust/bin/locust", "-f", "/locust/locustfile.py"]

# --- the serving image (the default target)
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RNN_SERVE_HOST=0.0.0.0 \
    RNN_SERVE_PORT=8000
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin rnn
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# The package as the wheel lays it out, with the shipped models (served unless
# RNN_SERVE_MODEL_DIR points elsewhere), and without training, conversion or the CLI.
COPY rnn_serve/__init__.py rnn_serve/
COPY contract/ rnn_serve/contract/
COPY graphs/ rnn_serve/graphs/
COPY service/ rnn_serve/service/
COPY model/artifacts/ rnn_serve/model/artifacts/
# Compiled now, as root: the container runs with a read-only root filesystem.
RUN python -m compileall -q /opt/venv rnn_serve
USER 10001
EXPOSE 8000 8001
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "rnn_serve.service.healthcheck"]
CMD ["python", "-m", "rnn_serve.service"]
