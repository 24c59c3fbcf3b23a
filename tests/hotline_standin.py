"""A local stand-in for a 12345 hotline system: it records the replies it gets and
can be told to answer with a failure."""

from __future__ import annotations

import json
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class StandInHotline:
    """An HTTP server on a free port; ``replies`` holds (headers, JSON body)."""

    def __init__(self):
        self.replies: list[tuple[dict, dict]] = []
        self.failures_left = 0
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def reply_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/reply"

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.replies.append((dict(request.headers), json.loads(request.get_data())))
        if self.failures_left:
            self.failures_left -= 1
            answer = {"success": False, "code": 50000, "message": "busy"}
        else:
            answer = {"success": True, "code": 10000, "message": "ok"}
        return Response(json.dumps(answer), mimetype="application/json")(
            environ, start_response
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(timeout=5)
