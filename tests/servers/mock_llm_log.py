"""Reading the log of tests/servers/mock_llm_server.py (its index.json) from a test.

The server rewrites index.json atomically (write beside it, rename). It lists a
connection, open, before its TLS handshake, logs an exchange after sending the
answer and marks the connection closed only after logging its last exchange.
So a test that reads the log as soon as its client exits can miss the last
exchange, or on a busy machine all of them: settled() waits until every listed
connection is closed.
"""

import json
import os
import time


def read_index(log_dir):
    """The index's connections; [] while the server has not written it yet."""
    try:
        with open(os.path.join(log_dir, "index.json")) as f:
            return json.load(f)["connections"]
    except FileNotFoundError:
        return []


def settled(log_dir, tries=1200, interval=0.05):
    """The connections once every one is closed (polls tries x interval seconds
    at most, 60 s by default; a condition, not a time the test relies on)."""
    connections = []
    for _ in range(tries):
        connections = read_index(log_dir)
        if all(c["closed"] for c in connections):
            return connections
        time.sleep(interval)
    raise AssertionError(f"the mock server's connections never all closed: {connections}")
