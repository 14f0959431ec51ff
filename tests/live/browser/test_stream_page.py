"""A WebSocket stream from a real browser (Chromium, driven by Playwright), with API keys on:
the page offers its key as a subprotocol, as docs/sequences.md shows, since a browser cannot
send an Authorization header on a WebSocket. `make browser`."""

from __future__ import annotations

import os

import pytest

from tests.support.servers import Server

pytestmark = pytest.mark.browser
KEY = "browser-key"
# docs/sequences.md's snippet, in a page: the first answer and the protocol the server chose
STREAM = """async ([url, key]) => {
  const ws = new WebSocket(url, ["rnn-serve", "rnn-serve.bearer." +
    btoa(key).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "")]);
  const messages = [];
  await new Promise((resolve, reject) => {
    ws.onmessage = (event) => {
      messages.push(JSON.parse(event.data));
      if (messages.length === 1) ws.send(JSON.stringify({inputs: [[[1, 2, 3]]]}));
      else resolve();
    };
    ws.onerror = () => reject(new Error("the stream failed"));
    ws.onclose = (event) => reject(new Error("closed " + event.code));
  });
  ws.close();
  return {protocol: ws.protocol, messages};
}"""


def test_a_page_streams_a_sequence_with_its_key_offered_as_a_subprotocol(browser):
    with Server(os.environ | {"RNN_SERVE_API_KEYS": KEY}) as server:
        page = browser.new_page()
        page.goto(server.url + "/docs")
        url = server.url.replace("http", "ws", 1) + "/v1/models/seed-demo/sequences/p/stream"
        found = page.evaluate(STREAM, [url + "?start=true", KEY])
        with pytest.raises(Exception, match=r"the stream failed|closed"):
            page.evaluate(STREAM, [url, "wrong-key"])
        page.close()
    assert found["protocol"] == "rnn-serve"
    ready, first = found["messages"]
    assert ready["type"] == "ready" and ready["steps"] == 0
    assert first["type"] == "outputs" and first["steps"] == 1
