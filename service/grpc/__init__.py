"""The second front end: the Open Inference Protocol over gRPC (server.py), on the same engine
as HTTP. proto/ holds Triton's .proto files and the code generated from them
(scripts/gen-grpc.sh)."""
