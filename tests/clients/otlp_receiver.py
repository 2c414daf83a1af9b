"""A real OTLP/HTTP trace receiver for the trace-export test (tests/tests/traces.rs).

Listens on 127.0.0.1 (a free port, printed as `listening PORT` on stdout), accepts
`POST /v1/traces` with `Content-Type: application/x-protobuf`, decodes each body as the
OpenTelemetry `ExportTraceServiceRequest` (the `opentelemetry-proto` package's generated code,
so anything Aurora encodes wrongly fails to decode here), and appends every span as one JSON line
to the file named by its argument. Anything else gets a 4xx, as a collector would answer.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OUT = sys.argv[1]
WRITING = threading.Lock()  # requests are served on threads; each batch is appended whole


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", kind="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces":
            return self.answer(404, b"only /v1/traces")
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.answer(415, b"expected application/x-protobuf")
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as e:
            return self.answer(400, f"not an ExportTraceServiceRequest: {e}".encode())
        lines = []
        for rs in request.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    lines.append(
                        json.dumps(
                            {
                                "resource": resource,
                                "scope": ss.scope.name,
                                "trace_id": s.trace_id.hex(),
                                "span_id": s.span_id.hex(),
                                "parent_span_id": s.parent_span_id.hex(),
                                "name": s.name,
                                "kind": s.kind,
                                "start": s.start_time_unix_nano,
                                "end": s.end_time_unix_nano,
                                "attributes": attributes(s.attributes),
                                "status": {"code": s.status.code, "message": s.status.message},
                            }
                        )
                    )
        with WRITING, open(OUT, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        self.answer(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
