"""What a body may be: JSON or binary tensors, plain or compressed. Anything else is a 415
naming the type (a web page may post text/plain or a form to any site without asking); a
compressed body is bounded by its decompressed size."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import orjson
import pytest

from rnn_serve.service.errors import PayloadTooLarge
from rnn_serve.service.http.body import BodyHeaders, body_headers, decoded
from tests.support.models import SEED_BATCH

PREDICT = "/v1/models/seed-demo/predict"
BODY = orjson.dumps({"inputs": SEED_BATCH})


@pytest.mark.parametrize(
    "kind", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
@pytest.mark.parametrize("path", [PREDICT, "/v2/repository/models/seed-demo/unload"])
def test_what_a_web_page_may_post_unasked_gets_415(client, kind, path):
    refused = client.post(path, content=BODY, headers={"Content-Type": kind})
    assert refused.status_code == 415
    assert refused.json()["error"].startswith(f"Content-Type {kind.split(';')[0]!r} is not")


@pytest.mark.parametrize("kind", [None, "application/json", "application/json; charset=utf-8"])
def test_json_or_no_type_is_read(client, kind):
    headers = {"Content-Type": kind} if kind else {}
    assert client.post(PREDICT, content=BODY, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda body: body)],
)
def test_compressed_bodies_answer_as_plain_ones(client, encoding, compress):
    plain = client.post(PREDICT, content=BODY).json()
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
    assert client.post(PREDICT, content=compress(BODY), headers=headers).json() == plain


def test_a_body_that_inflates_past_the_limit_gets_413(client):
    bomb = gzip.compress(b" " * (17 << 20))  # 17 MiB of spaces in about 17 KB
    refused = client.post(PREDICT, content=bomb, headers={"Content-Encoding": "gzip"})
    assert refused.status_code == 413
    assert "exceeds the limit of 16777216 bytes decompressed" in refused.json()["error"]


def test_inflating_stops_at_the_limit_rather_than_after_it():
    """The 413 alone would also come from inflating everything and measuring it afterwards:
    the memory it takes tells them apart."""
    bomb = zlib.compress(bytes(256 << 20), 9)  # 256 MiB of zeros in about 256 KB
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            decoded(bomb, "deflate", 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize(
    ("encoding", "body", "status", "message"),
    [
        ("gzip", BODY, 400, "request body is not valid gzip"),
        ("gzip", gzip.compress(BODY)[:-12], 400, "it ends early"),
        ("br", BODY, 415, "Content-Encoding 'br' is not supported"),
    ],
)
def test_bad_encodings_are_named(client, encoding, body, status, message):
    refused = client.post(PREDICT, content=body, headers={"Content-Encoding": encoding})
    assert refused.status_code == status
    assert message in refused.json()["error"]


def test_the_body_headers_are_read_in_one_pass_the_first_of_each_counting():
    raw = [
        (b"content-length", b"12"),
        (b"content-encoding", b" GZIP "),
        (b"expect", b"100-Continue"),
        (b"content-length", b"99"),
        (b"content-encoding", b"deflate"),
    ]
    assert body_headers(raw) == BodyHeaders(12, "gzip", True)
    assert body_headers([]) == BodyHeaders(0, "identity", False)
    assert not body_headers([(b"expect", b"100-continue")]).expects_continue  # no body
    for length in (b"-1", b"1e3", b" 7", "\N{SUPERSCRIPT TWO}".encode("latin-1")):
        assert body_headers([(b"content-length", length)]).declared == 0
