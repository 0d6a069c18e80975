// Real JavaScript logging clients, configured as their users would, each sending a few logs to
// the logger under test and exiting non-zero when the client itself reports a failure.
//
//   LOGGER_URL=http://127.0.0.1:8787 LOGGER_KEY=lk_... RUN=<marker> node clients.mjs <client>
//
// <client>: otel-json, otel-proto, winston, winston-batch, winston-loki-json,
// winston-loki-proto, pino. Every message starts with RUN, so a test finds its own rows.
import { LoggerProvider, BatchLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { OTLPLogExporter as OtlpJson } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as OtlpProto } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import winston from "winston";
import LokiTransport from "winston-loki";
import pino from "pino";
import { createWriteStream } from "pino-http-send";

const { LOGGER_URL: url, LOGGER_KEY: key, RUN: run } = process.env;
const client = process.argv[2];
const failures = [];
const fail = (what) => (e) => failures.push(`${what}: ${e?.message ?? e}`);
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

async function otel(Exporter, mode) {
  const exporter = new Exporter({ url: `${url}/v1/logs`, headers: { "x-api-key": key } });
  // The SDK reports a failed export only through its result: keep it.
  const send = exporter.export.bind(exporter);
  exporter.export = (logs, done) =>
    send(logs, (result) => {
      if (result.code !== 0) fail("export")(result.error ?? "failed");
      done(result);
    });
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ "service.name": `otel-js-${mode}` }),
    processors: [new BatchLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger("checkout", "1.2.0");
  logger.emit({
    severityNumber: 17,
    severityText: "ERROR",
    body: `${run} otel ${mode} payment failed`,
    attributes: { order_id: "o-1", "http.status_code": 502 },
  });
  logger.emit({ severityNumber: 9, severityText: "INFO", body: `${run} otel ${mode} paid` });
  await provider.forceFlush();
  await provider.shutdown();
}

async function winstonHttp(batch) {
  const { hostname, port, pathname } = new URL(url);
  const transport = new winston.transports.Http({
    host: hostname,
    port: Number(port),
    path: `${pathname.replace(/\/$/, "")}/logs`,
    headers: { "x-api-key": key },
    batch,
    batchCount: 3,
    batchInterval: 200,
  });
  // winston's Http transport reports a refused request (or a status other than 200) as "warn".
  transport.on("warn", fail("winston http"));
  const logger = winston.createLogger({ transports: [transport] });
  const mode = batch ? "batch" : "single";
  logger.info(`${run} winston ${mode} started`, { order_id: "o-2" });
  logger.warn(`${run} winston ${mode} slow`, { ms: 1234 });
  logger.error(`${run} winston ${mode} failed`);
  await settle(1500);
}

async function winstonLoki(json) {
  const mode = json ? "json" : "proto";
  const transport = new LokiTransport({
    host: url,
    json,
    basicAuth: `shop:${key}`,
    labels: { job: `winston-loki-${mode}` },
    batching: false,
    onConnectionError: fail("winston-loki"),
  });
  // Without its snappy binary winston-loki quietly sends JSON instead: that would test nothing.
  if (!json && transport.batcher.options.json) fail("winston-loki")("fell back to JSON (no snappy)");
  const logger = winston.createLogger({ transports: [transport] });
  logger.info(`${run} loki ${mode} started`);
  logger.error(`${run} loki ${mode} failed`);
  await settle(1500);
}

async function pinoHttp() {
  const stream = createWriteStream({
    url: `${url}/logs`,
    username: "shop",
    password: key,
    bodyType: "ndjson",
    batchSize: 3,
    timeout: 200,
    retries: 0,
  });
  const logger = pino({ base: { service: "pino-app" } }, stream);
  logger.info({ order_id: "o-3" }, `${run} pino started`);
  logger.warn(`${run} pino slow`);
  logger.fatal(`${run} pino down`);
  await settle(1500);
}

const clients = {
  "otel-json": () => otel(OtlpJson, "json"),
  "otel-proto": () => otel(OtlpProto, "proto"),
  winston: () => winstonHttp(false),
  "winston-batch": () => winstonHttp(true),
  "winston-loki-json": () => winstonLoki(true),
  "winston-loki-proto": () => winstonLoki(false),
  pino: pinoHttp,
};
if (!clients[client]) {
  console.error(`unknown client ${client}; one of ${Object.keys(clients).join(", ")}`);
  process.exit(2);
}
await clients[client]();
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
process.exit(0);
