"""An OTLP/HTTP logs receiver for the tests: decodes each POST /v1/logs with
the official protobuf definitions (PyPI's opentelemetry-proto) and keeps every
log record with its resource. `stop_after=N` answers N requests, then closes
its listening socket (a collector that goes away mid-run): only records whose
response was written in full are counted as received."""
import http.server
import threading

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2


def any_value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


class Receiver:
    def __init__(self, stop_after=None):
        self.records = []  # (resource attributes, scope name, log record as dict)
        self.requests = 0
        self.bad_requests = []
        self.stop_after = stop_after
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path != "/v1/logs" or self.headers.get("Content-Type") != "application/x-protobuf":
                    receiver.bad_requests.append((self.path, self.headers.get("Content-Type")))
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                request = logs_service_pb2.ExportLogsServiceRequest()
                request.ParseFromString(body)
                decoded = []
                for resource_logs in request.resource_logs:
                    resource = {kv.key: any_value(kv.value) for kv in resource_logs.resource.attributes}
                    for scope_logs in resource_logs.scope_logs:
                        for record in scope_logs.log_records:
                            decoded.append((resource, scope_logs.scope.name, {
                                "time_unix_nano": record.time_unix_nano,
                                "observed_time_unix_nano": record.observed_time_unix_nano,
                                "severity_number": record.severity_number,
                                "severity_text": record.severity_text,
                                "event_name": record.event_name,
                                "body": any_value(record.body),
                                "attributes": {kv.key: any_value(kv.value) for kv in record.attributes},
                            }))
                response = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(response)))
                self.end_headers()
                self.wfile.write(response)
                self.wfile.flush()
                with receiver.lock:
                    receiver.requests += 1
                    receiver.records.extend(decoded)

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 0.2
        self.closed = False
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.closed and (self.stop_after is None or self.requests < self.stop_after):
            self.server.handle_request()
        self.server.server_close()  # gone: the next connect is refused

    def close(self):
        self.closed = True
        self.thread.join()
