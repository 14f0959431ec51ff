"""The pipelined Redis connection against a real redis-server: credentials and database from
the URL, answers matched in order when callers give up, and every outage (a lost connection, a
stalled server, a peer that does not speak RESP) failing the commands on it with redis-py's
errors, the next command connecting again."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import closing

import pytest
from redis import exceptions

from rnn_serve.service.engine.state.link import Link
from tests.support.redis import redis_cli, redis_servers
from tests.support.servers import free_port, wait_for

PASSWORD = "s3cret"


def guarded_link(port: int, timeout_s: float = 1.0) -> Link:
    """A link to the ``guarded`` server, with its password."""
    return Link.from_url(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", timeout_s)


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A redis-server that wants a password: its port and process."""
    port = free_port()
    with redis_servers([["--port", str(port), "--requirepass", PASSWORD]]) as (process,):
        yield port, process


def test_the_url_gives_the_password_and_the_database(guarded):
    port, _ = guarded

    async def scenario() -> None:
        with closing(Link.from_url(f"redis://:{PASSWORD}@127.0.0.1:{port}/3", 1.0)) as link:
            assert await link.execute("SET", "where", "db3") == b"OK"

    asyncio.run(scenario())
    found = redis_cli(port, "-a", PASSWORD, "--no-auth-warning", "-n", "3", "get", "where")
    assert found == "db3"


def test_a_wrong_password_is_an_outage_that_names_it(guarded):
    port, _ = guarded

    async def scenario() -> None:
        link = Link.from_url(f"redis://:wrong@127.0.0.1:{port}/0", 1.0)
        with pytest.raises(exceptions.RedisError, match=r"WRONGPASS|invalid password"):
            await link.execute("PING")

    asyncio.run(scenario())


def test_answers_reach_their_callers_in_order_when_one_gives_up(guarded):
    port, _ = guarded

    async def scenario() -> list[bytes]:
        with closing(guarded_link(port)) as link:
            await link.execute("MSET", "a", "1", "b", "2", "c", "3")
            calls = [asyncio.ensure_future(link.execute("GET", key)) for key in "abc"]
            calls[1].cancel()
            first, _, last = await asyncio.gather(*calls, return_exceptions=True)
            return [first, last, await link.execute("GET", "b")]

    assert asyncio.run(scenario()) == [b"1", b"3", b"2"]


def test_a_lost_connection_fails_its_commands_and_the_next_reconnects(guarded):
    port, _ = guarded

    async def scenario() -> None:
        with closing(guarded_link(port)) as link:
            assert await link.execute("CLIENT", "SETNAME", "doomed") == b"OK"
            blocked = asyncio.ensure_future(link.execute("BLPOP", "nothing", 0))
            await asyncio.sleep(0.1)
            with closing(guarded_link(port)) as killer:
                await killer.execute("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
            with pytest.raises(exceptions.ConnectionError, match="lost"):
                await blocked
            assert await link.execute("PING") == b"PONG"  # a new connection

    asyncio.run(scenario())


def test_a_stalled_server_times_out_and_the_link_recovers_when_it_wakes(guarded):
    port, process = guarded

    async def scenario() -> float:
        with closing(guarded_link(port, 0.5)) as link:
            await link.execute("PING")
            os.kill(process.pid, signal.SIGSTOP)
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                with pytest.raises(exceptions.TimeoutError, match=r"within 0\.5 s"):
                    await asyncio.gather(link.execute("PING"), link.execute("PING"))
                waited = loop.time() - started
            finally:
                os.kill(process.pid, signal.SIGCONT)
            assert await link.execute("PING") == b"PONG"
            return waited

    assert 0.5 <= asyncio.run(scenario()) < 1.5


def test_a_peer_that_does_not_speak_resp_is_an_outage():
    async def scenario() -> None:
        async def nonsense(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await writer.drain()

        server = await asyncio.start_server(nonsense, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = Link.from_url(f"redis://127.0.0.1:{port}/0", 1.0)
        with (
            closing(server),
            closing(link),
            pytest.raises(exceptions.ConnectionError, match="not RESP"),
        ):
            await link.execute("PING")

    asyncio.run(scenario())


def test_nothing_listening_is_an_outage():
    async def scenario() -> None:
        link = Link.from_url(f"redis://127.0.0.1:{free_port()}/0", 1.0)
        with pytest.raises(exceptions.ConnectionError, match="cannot connect to Redis"):
            await link.execute("PING")

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory) -> Iterator[tuple[int, str]]:
    """A redis-server that speaks only TLS, with a certificate for 127.0.0.1: its port and
    the certificate's path."""
    if shutil.which("redis-server") is None or shutil.which("openssl") is None:
        pytest.skip("redis-server and openssl are needed (apt-get install redis-server openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    named = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run([*request, *named, *files], check=True, capture_output=True)
    port = free_port()
    tls = ["--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    server = subprocess.Popen(
        ["redis-server", "--port", "0", *tls, "--tls-auth-clients", "no", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, "TLS redis")
        yield port, str(cert)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_rediss_speaks_tls_and_checks_the_certificate(tls_redis):
    port, cert = tls_redis

    async def ping(url: str) -> bytes:
        with closing(Link.from_url(url, 2.0)) as link:
            return await link.execute("PING")

    assert asyncio.run(ping(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}")) == b"PONG"
    assert asyncio.run(ping(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none")) == b"PONG"
    with pytest.raises(exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(ping(f"rediss://127.0.0.1:{port}/0"))  # self-signed, not trusted
