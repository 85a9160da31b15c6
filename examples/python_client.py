#!/usr/bin/env python3
"""Log predictions and read models through `mlstore serve`, with Python's standard library only.

    mlstore serve --listen 127.0.0.1:8080 &
    python3 examples/python_client.py http://127.0.0.1:8080 [TOKEN]

Registers a model version (if it is not there yet), points the alias "production" at it, logs a
prediction and its late label, and reads back the latest version, the prediction and the
accuracy. Exits non-zero with the server's error message when a call fails.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid


class MlstoreError(Exception):
    """An error answer of the server: its status and its JSON error body."""

    def __init__(self, status, body):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"HTTP {status} {error.get('kind')}: {error.get('message')}")
        self.status = status
        self.kind = error.get("kind")


class Client:
    def __init__(self, base_url, token=None):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            raise MlstoreError(e.code, json.loads(e.read() or b"{}")) from None


def segment(text):
    """A model name, version or alias as one path segment (a name may hold '/')."""
    return urllib.parse.quote(text, safe="")


def main():
    base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    token = sys.argv[2] if len(sys.argv) > 2 else None
    client = Client(base_url, token)
    model, version = "fraud-detector", "1.2.0"
    m, v = segment(model), segment(version)

    try:
        client.call("POST", f"/v1/models/{m}/versions/{v}",
                    {"model_type": "xgboost", "metrics": {"auc": 0.93}, "tags": {"team": "risk"}})
        print(f"registered {model} {version}")
    except MlstoreError as e:
        if e.kind != "already_exists":
            raise
        print(f"{model} {version} was registered already")
    client.call("PUT", f"/v1/models/{m}/aliases/production", {"version": version})

    prediction_id = str(uuid.uuid4())
    client.call("POST", "/v1/predictions", {
        "id": prediction_id, "model": model, "version": version,
        "prediction": "fraud", "confidence": 0.87, "features": {"amount": 120.5},
    })
    client.call("POST", "/v1/labels", {"id": prediction_id, "actual": "fraud"})

    latest = client.call("GET", f"/v1/models/{m}/latest")
    production = client.call("GET", f"/v1/models/{m}/aliases/production")
    stored = client.call("GET", f"/v1/predictions/{prediction_id}")
    accuracy = client.call("GET", f"/v1/models/{m}/versions/{v}/accuracy?last=1000")
    print(f"latest {latest['name']} {latest['version']} auc={latest['metrics']['auc']}")
    print(f"production -> {production['version']}")
    print(f"prediction {stored['id']} {stored['prediction']} label={stored['actual']}")
    print(f"accuracy {accuracy['correct']}/{accuracy['total']}")
    assert stored["actual"] == "fraud" and accuracy["total"] >= 1


if __name__ == "__main__":
    try:
        main()
    except MlstoreError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
