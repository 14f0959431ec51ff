"""A bare grpc.aio server whose ModelInfer answers an empty response at once: what grpcio's
asyncio API costs per unary call before any server does any work. bench/grpc.py drives it
with the same client as rnn-serve.

    python -m bench.grpc_floor PORT
"""

from __future__ import annotations

import sys

import grpc
import uvloop
from tritonclient.grpc import service_pb2, service_pb2_grpc


class Empty(service_pb2_grpc.GRPCInferenceServiceServicer):
    async def ModelInfer(
        self, request: service_pb2.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelInferResponse:
        return service_pb2.ModelInferResponse(model_name=request.model_name)

    async def ServerReady(
        self, request: service_pb2.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerReadyResponse:
        return service_pb2.ServerReadyResponse(ready=True)


async def serve(port: int) -> None:
    server = grpc.aio.server()
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Empty(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
