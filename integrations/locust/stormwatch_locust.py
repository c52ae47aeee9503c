"""Per-request NDJSON for `stormwatch import locust`.

Add one line to a locustfile:

    import stormwatch_locust  # noqa: F401

and every request is appended to the file named by STORMWATCH_LOCUST_OUT (default
stormwatch-locust.ndjson): start time, response time, name, method, status, exception, user
class and the response's X-Amzn-Trace-Id / x-amzn-RequestId / apigw-requestid headers.
"""

import json
import os
import threading

from locust import events

_HEADERS = ("X-Amzn-Trace-Id", "x-amzn-RequestId", "apigw-requestid")
_lock = threading.Lock()
_out = open(os.environ.get("STORMWATCH_LOCUST_OUT", "stormwatch-locust.ndjson"), "a", buffering=1)


@events.init.add_listener
def _header(environment, **_kwargs):
    import locust

    with _lock:
        _out.write(json.dumps({"stormwatch_locust": 1, "locust_version": locust.__version__}) + "\n")


@events.request.add_listener
def _request(request_type, name, response_time, response_length, response=None,
             context=None, exception=None, start_time=None, **_kwargs):
    headers = getattr(response, "headers", None) or {}
    user = (context or {}).get("user")
    line = {
        "start_time": start_time,
        "response_time": response_time,
        "name": name,
        "method": request_type,
        "status": getattr(response, "status_code", 0) or 0,
        "exception": None if exception is None else repr(exception),
        "user_class": type(user).__name__ if user is not None else None,
        "response_length": response_length,
        "headers": {h: headers.get(h) for h in _HEADERS},
    }
    with _lock:
        _out.write(json.dumps(line) + "\n")
