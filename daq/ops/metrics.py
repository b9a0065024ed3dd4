"""Prometheus metrics: an optional /metrics endpoint of the supervisor (text exposition format).

The supervisor refreshes a snapshot of its status once a second in its own loop; the HTTP
thread only formats that snapshot, so no state is shared across threads.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROCESS_COUNTERS = {  # heartbeat field -> (metric, type, help)
    "msgs_in": ("sevens_process_messages_in_total", "counter", "messages received"),
    "msgs_out": ("sevens_process_messages_out_total", "counter", "messages sent"),
    "triggers_in": ("sevens_process_triggers_in_total", "counter", "triggers received"),
    "triggers_out": ("sevens_process_triggers_out_total", "counter", "triggers sent on"),
    "losses": ("sevens_process_losses_total", "counter", "triggers lost, with a reason in the run file"),
    "malformed": ("sevens_process_malformed_total", "counter", "malformed messages dropped"),
    "gaps": ("sevens_process_gaps_total", "counter", "messages missing in input sequence numbers"),
    "queue_depth": ("sevens_process_queue_depth", "gauge", "triggers waiting inside the process"),
    "heartbeat_age_s": ("sevens_process_heartbeat_age_seconds", "gauge", "time since the last heartbeat"),
}
STATES = ("idle", "launching", "ready", "running", "stopping", "error")


def exposition(status: dict[str, Any]) -> str:
    """Prometheus text format of a supervisor status dict."""
    lines = ["# HELP sevens_run_state 1 for the supervisor's current state", "# TYPE sevens_run_state gauge"]
    lines += [f'sevens_run_state{{state="{s}"}} {int(status.get("state") == s)}' for s in STATES]
    lines += ["# HELP sevens_run_number current or last run number", "# TYPE sevens_run_number gauge",
              f"sevens_run_number {status.get('run_number') or 0}"]
    procs = status.get("processes", [])
    lines += ["# HELP sevens_process_alive 1 if the process is alive", "# TYPE sevens_process_alive gauge"]
    lines += [f'sevens_process_alive{{process="{p["name"]}"}} {int(bool(p["alive"]))}' for p in procs]
    for key, (metric, kind, text) in PROCESS_COUNTERS.items():
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
        for p in procs:
            value = p.get(key)
            if value is not None:
                lines.append(f'{metric}{{process="{p["name"]}"}} {float(value):g}')
    return "\n".join(lines) + "\n"


class MetricsServer:
    """Serves ``exposition(snapshot)`` at http://host:port/metrics from a daemon thread."""

    def __init__(self, host: str, port: int) -> None:
        self.snapshot: dict[str, Any] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics here")
                    return
                body = exposition(server.snapshot).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep scrapes out of the logs
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
