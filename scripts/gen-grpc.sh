#!/usr/bin/env bash
# Regenerates service/grpc/proto/*_pb2*.py from the .proto files beside them: Triton's
# grpc_service.proto, model_config.proto and health.proto, from
# github.com/triton-inference-server/common (protobuf/, commit 83adf7c). grpc_service.proto is a
# superset of KServe's grpc_predict_v2.proto (same package, service, messages and field numbers),
# so KServe's clients and Triton's both speak to it. The generated code needs protobuf 6 at run
# time (tritonclient's gRPC client still pins protobuf < 7), hence grpcio-tools 1.80.
set -euo pipefail
cd "$(dirname "$0")/.."
out=service/grpc/proto
tools=$(mktemp -d)
python3 -m venv "$tools"
"$tools/bin/pip" install -q grpcio-tools==1.80.0
"$tools/bin/python" -m grpc_tools.protoc -I "$out" --python_out="$out" --pyi_out="$out" \
  --grpc_python_out="$out" "$out"/grpc_service.proto "$out"/model_config.proto "$out"/health.proto
# protoc writes `import model_config_pb2`: inside the package it must name the package.
sed -i 's/^import \(model_config_pb2\|grpc_service_pb2\|health_pb2\) as /from rnn_serve.service.grpc.proto import \1 as /' \
  "$out"/*_pb2*.py
sed -i 's/^import model_config_pb2 as /from rnn_serve.service.grpc.proto import model_config_pb2 as /' "$out"/*.pyi
rm -rf "$tools"
