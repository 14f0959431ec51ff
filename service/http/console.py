"""The web console at /console: one static page inside the package (static/console, charts by
uPlot, vendored in static/uplot), whose data come from the API with the key the user enters,
and the one endpoint made for it, the server panel's figures. RNN_SERVE_CONSOLE=false turns
both off."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse, RedirectResponse, Response

from rnn_serve.service.errors import Disabled
from rnn_serve.service.http.middleware import bearer, key_matches
from rnn_serve.service.http.responses import json_response
from rnn_serve.service.http.routing import Call

PAGE = (Path(__file__).parent / "static" / "console" / "index.html").read_text()
# Requests the server panel leaves out of its rates: probes, scrapes and the console's own.
QUIET = frozenset(
    {"/v2/health/live", "/v2/health/ready", "/metrics", "/v1/console/server", "other"}
    | {"/console", "/console/"}
)


async def page(call: Call) -> Response:
    _enabled(call)
    return HTMLResponse(PAGE, headers={"cache-control": "no-cache"})


async def slash(call: Call) -> Response:
    """``/console/`` (as people type it): to the page, whose relative links need no slash."""
    _enabled(call)
    return RedirectResponse("../console", status_code=308)


async def server(call: Call) -> Response:
    """Totals since start (the page differences two of them), gauges read now, and whether
    the caller may load and unload models (the console shows those buttons only then)."""
    _enabled(call)
    figures = await call.engine.server_figures(QUIET)
    return json_response(figures | {"may_change_models": _may_change_models(call)})


def _enabled(call: Call) -> None:
    if not call.settings.console:
        raise Disabled("the console is turned off (RNN_SERVE_CONSOLE=false)")


def _may_change_models(call: Call) -> bool:
    """What the repository routes would allow this caller: model control set to explicit,
    and an admin key when keys are on (middleware.py)."""
    if call.settings.model_control != "explicit":
        return False
    if not call.state.api_keys:
        return True
    token = bearer(call.headers.get("authorization", "").encode("latin-1"))
    admin = [key.encode() for key in call.settings.admin()]
    return token is not None and key_matches(token, admin)
