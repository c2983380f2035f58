#!/usr/bin/env python3
"""A real gRPC server for ward's gRPC health check tests: grpcio's C-core server with the
standard health service of grpcio-health-checking (grpc.health.v1.Health), the reference
implementation that ward's client is tested against. It listens on loopback or a Unix socket
only.

    grpc_server.py [--port N] [--unix PATH] [--tls CERT KEY [--client-ca CA]]
                   [--no-health] [--overall STATUS] [--service NAME=STATUS ...]
                   [--require-metadata 'name: value'] [--flip-after SECONDS]

--port N            listen on 127.0.0.1:N (0: the OS picks); --unix PATH: on unix:PATH; or both.
--tls CERT KEY      serve TLS with that PEM certificate and key.
--client-ca CA      with --tls: require a client certificate signed by CA (mTLS).
--no-health         no health service: Health/Check answers UNIMPLEMENTED (grpc-status 12).
--overall STATUS    the status of service "" (default SERVING).
--service N=STATUS  the status of service N (repeatable). A service not set is unknown to the
                    servicer: Check answers NOT_FOUND (grpc-status 5).
                    STATUS: SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN.
--require-metadata  every call lacking that metadata (name and value) ends UNAUTHENTICATED
                    (grpc-status 16), its message naming the key but never the value.
--flip-after S      after S seconds, set the overall status (service "") to NOT_SERVING.

Once serving it prints `READY <port>` (0 when only on a Unix socket) and flushes, then serves
until SIGTERM or SIGINT and exits 0. Exit 2: bad arguments, or no port could be bound;
exit 3: grpcio or grpcio-health-checking is missing.
"""

import argparse
import signal
import sys
import threading
from concurrent import futures

try:
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
except ImportError as e:
    sys.stderr.write(
        "grpc_server.py: Python's grpcio and grpcio-health-checking are needed "
        "(dist/setup installs them): %s\n" % e
    )
    sys.exit(3)

STATUSES = ("SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", "UNKNOWN")


def status_value(name):
    return health_pb2.HealthCheckResponse.ServingStatus.Value(name)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="grpc_server.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT (0: the OS picks)")
    p.add_argument("--unix", metavar="PATH", help="listen on the Unix socket PATH")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve TLS (PEM files)")
    p.add_argument("--client-ca", metavar="CA", help="require a client certificate signed by CA")
    p.add_argument("--no-health", action="store_true", help="do not register the health service")
    p.add_argument("--overall", default="SERVING", choices=STATUSES, help='status of service ""')
    p.add_argument("--service", action="append", default=[], metavar="NAME=STATUS",
                   help="status of service NAME (repeatable)")
    p.add_argument("--require-metadata", metavar="'NAME: VALUE'",
                   help="end calls lacking this metadata with UNAUTHENTICATED")
    p.add_argument("--flip-after", type=float, metavar="SECONDS",
                   help="then set the overall status to NOT_SERVING")
    a = p.parse_args(argv)
    if a.port is None and a.unix is None:
        p.error("give --port, --unix or both")
    if a.port is not None and not 0 <= a.port <= 65535:
        p.error("--port: 0 to 65535")
    if a.client_ca and not a.tls:
        p.error("--client-ca needs --tls")
    services = []
    for s in a.service:
        name, eq, st = s.rpartition("=")
        if not eq or st not in STATUSES:
            p.error("--service %r: NAME=STATUS, STATUS one of %s" % (s, ", ".join(STATUSES)))
        services.append((name, st))
    a.services = services
    if a.require_metadata is not None:
        key, colon, value = a.require_metadata.partition(":")
        key = key.strip().lower()
        if not colon or not key:
            p.error("--require-metadata: 'name: value'")
        a.metadata = (key, value.strip())
    else:
        a.metadata = None
    if a.flip_after is not None and a.flip_after < 0:
        p.error("--flip-after: seconds, not negative")
    return a


class RequireMetadata(grpc.ServerInterceptor):
    """Ends every call that lacks the metadata KEY: VALUE with UNAUTHENTICATED."""

    def __init__(self, key, value):
        self.key = key
        self.value = value

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong %s" % key)

        self.deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):
        for k, v in handler_call_details.invocation_metadata or ():
            if k == self.key and v == self.value:
                return continuation(handler_call_details)
        return self.deny


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main(argv):
    a = parse_args(argv)

    interceptors = [RequireMetadata(*a.metadata)] if a.metadata else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=interceptors)

    servicer = None
    if not a.no_health:
        servicer = health.HealthServicer()
        servicer.set("", status_value(a.overall))
        for name, st in a.services:
            servicer.set(name, status_value(st))
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)

    creds = None
    if a.tls:
        cert, key = read(a.tls[0]), read(a.tls[1])
        ca = read(a.client_ca) if a.client_ca else None
        creds = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )

    def bind(address):
        try:
            if creds is not None:
                return server.add_secure_port(address, creds)
            return server.add_insecure_port(address)
        except RuntimeError as e:  # grpcio raises on a failed bind; older ones returned 0
            sys.stderr.write("grpc_server.py: cannot listen on %s: %s\n" % (address, e))
            sys.exit(2)

    port = 0
    if a.port is not None:
        port = bind("127.0.0.1:%d" % a.port)
        if port == 0:
            sys.stderr.write("grpc_server.py: cannot listen on 127.0.0.1:%d\n" % a.port)
            sys.exit(2)
    if a.unix is not None:
        if bind("unix:" + a.unix) == 0:
            sys.stderr.write("grpc_server.py: cannot listen on unix:%s\n" % a.unix)
            sys.exit(2)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    server.start()
    if servicer is not None and a.flip_after is not None:
        timer = threading.Timer(
            a.flip_after, servicer.set, ("", health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        timer.daemon = True
        timer.start()

    sys.stdout.write("READY %d\n" % port)
    sys.stdout.flush()

    while not stop.wait(0.2):
        pass
    if servicer is not None:
        servicer.enter_graceful_shutdown()  # ends open Watch streams with NOT_SERVING
    server.stop(grace=0.5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
