# Verify a Keygate-Signature header (the webhook scheme): t=<unix seconds>,v1=<hex HMAC-SHA256 of
# "<t>.<raw body>">. Refuses a bad signature, a t more than 300 s old (or in the future beyond it),
# and a request id already seen. Python's standard library only.
import hashlib
import hmac
import json
import time

TOLERANCE_SECONDS = 300


class SeenIds:
    """Request ids seen within the tolerance window; an id seen again is a replay."""

    def __init__(self):
        self._seen = {}

    def add(self, request_id, now):
        for old, at in list(self._seen.items()):
            if at < now - 2 * TOLERANCE_SECONDS:
                del self._seen[old]
        if request_id in self._seen:
            return False
        self._seen[request_id] = now
        return True


def verify_request(secret, header, raw_body, seen, now=None):
    """Returns (body, None) for a genuine request, (None, reason) otherwise. raw_body: bytes as received."""
    now = int(time.time()) if now is None else now
    parts = dict(p.strip().split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return None, "malformed signature header"
    v1 = parts.get("v1", "")
    expected = hmac.new(secret.encode(), str(t).encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, v1):
        return None, "bad signature"
    if abs(now - t) > TOLERANCE_SECONDS:
        return None, "stale timestamp"
    try:
        body = json.loads(raw_body)
    except ValueError:
        return None, "body is not JSON"
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        return None, "no request id"
    if not seen.add(body["id"], now):
        return None, "repeated request id"
    return body, None
