"""Real Python logging clients, configured as their users would, each sending a few logs to the
logger under test and exiting non-zero when the client itself reports a failure.

    LOGGER_URL=http://127.0.0.1:8787 LOGGER_KEY=lk_... RUN=<marker> python clients.py <client>

<client>: otel (the OpenTelemetry SDK's protobuf exporter under the logging module) or loki
(python-logging-loki). Every message starts with RUN, so a test finds its own rows.
"""

import logging
import os
import sys

URL, KEY, RUN = os.environ["LOGGER_URL"], os.environ["LOGGER_KEY"], os.environ["RUN"]
failures = []


def otel():
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    exporter = OTLPLogExporter(endpoint=f"{URL}/v1/logs", headers={"x-api-key": KEY})
    send = exporter.export

    def export(batch):
        # The SDK reports a failed export only through its result: keep it.
        result = send(batch)
        if result.name != "SUCCESS":
            failures.append(f"export: {result}")
        return result

    exporter.export = export
    provider = LoggerProvider(resource=Resource.create({"service.name": "otel-py"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    log = logging.getLogger("shop.checkout")
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
    log.error(f"{RUN} otel py payment failed", extra={"order_id": "o-4"})
    log.info(f"{RUN} otel py paid")
    provider.force_flush()
    provider.shutdown()


def loki():
    import logging_loki

    class Handler(logging_loki.LokiHandler):
        # logging swallows a handler's errors (it prints them): keep them.
        def handleError(self, record):
            failures.append(f"loki: {sys.exc_info()[1]}")

    handler = Handler(
        url=f"{URL}/loki/api/v1/push", tags={"job": "py-loki"}, auth=("shop", KEY), version="1"
    )
    log = logging.getLogger("py-loki")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.warning(f"{RUN} loki py disk almost full", extra={"tags": {"volume": "data"}})
    log.info(f"{RUN} loki py started")


{"otel": otel, "loki": loki}[sys.argv[1]]()
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
