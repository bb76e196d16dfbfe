import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one hub instance, served at /metrics. Labels never carry personal data. */
export function createHubMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_hub_' });
  const m = {
    registry,
    readingsReceived: new Counter({
      name: 'vigil_ingest_readings_total',
      help: 'Readings received, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    payloadsRejected: new Counter({
      name: 'vigil_ingest_rejected_payloads_total',
      help: 'MQTT payloads or readings rejected, by stable error code',
      labelNames: ['code'],
      registers: [registry],
    }),
    batches: new Counter({
      name: 'vigil_ingest_batches_total',
      help: 'Reading batches processed',
      registers: [registry],
    }),
    storeFailures: new Counter({
      name: 'vigil_ingest_store_failures_total',
      help: 'Batches not stored (not acknowledged, the gateway re-sends)',
      labelNames: ['store'],
      registers: [registry],
    }),
    writeLatency: new Histogram({
      name: 'vigil_ingest_write_seconds',
      help: 'Time to store a batch (ledger + time series + rules)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    // where a filing group's time goes (bench/README.md profile): wall time of each stage, summed
    ingestStageSeconds: new Counter({
      name: 'vigil_ingest_stage_seconds_total',
      help: 'Wall time spent by filing groups in each stage (mapping, ledger, timeseries, rules and marking stored), by lane',
      labelNames: ['stage', 'lane'],
      registers: [registry],
    }),
    ingestGroups: new Histogram({
      name: 'vigil_ingest_group_readings',
      help: "Readings per filing group (many gateways' batches filed together), by lane",
      labelNames: ['lane'],
      buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10_000],
      registers: [registry],
    }),
    episodesOpened: new Counter({
      name: 'vigil_alert_episodes_opened_total',
      help: 'Alert episodes opened',
      labelNames: ['rule', 'severity'],
      registers: [registry],
    }),
    openEpisodes: new Gauge({
      name: 'vigil_alert_episodes_open',
      help: 'Open or acknowledged alert episodes',
      labelNames: ['severity'],
      registers: [registry],
    }),
    // rules, alert episodes and webhook delivery (issue 6)
    ruleEvaluations: new Counter({
      name: 'vigil_rule_evaluations_total',
      help: 'Rule evaluations, by rule and outcome (breach, normal, remeasure, skip)',
      labelNames: ['rule', 'outcome'],
      registers: [registry],
    }),
    ruleFailures: new Counter({
      name: 'vigil_rule_failures_total',
      help: 'Rule evaluations that threw (logged with RULE_EVALUATION_FAILED)',
      labelNames: ['rule'],
      registers: [registry],
    }),
    rulePending: new Gauge({
      name: 'vigil_rule_evaluations_pending',
      help: 'Rule evaluations that failed and wait for a retry (PostgreSQL down, rule error)',
      registers: [registry],
    }),
    ruleHeldBatches: new Counter({
      name: 'vigil_rule_held_batches_total',
      help: 'Reading batches held (no receipt, the gateway re-sends) because a failed evaluation could not even be recorded',
      registers: [registry],
    }),
    scrapeErrors: new Counter({
      name: 'vigil_metrics_scrape_errors_total',
      help: 'Database queries of a /metrics scrape that failed; their gauges are then absent, never a false 0',
      labelNames: ['query'],
      registers: [registry],
    }),
    episodesResolved: new Counter({
      name: 'vigil_alert_episodes_resolved_total',
      help: 'Alert episodes resolved by hysteresis',
      labelNames: ['rule'],
      registers: [registry],
    }),
    notificationsSent: new Counter({
      name: 'vigil_notifications_total',
      help: 'Notifications recorded, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'vigil_webhook_attempts_total',
      help: 'Webhook delivery attempts, by outcome (delivered, retry, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    webhookQueueDepth: new Gauge({
      name: 'vigil_webhook_queue_depth',
      help: 'Webhook deliveries pending',
      registers: [registry],
    }),
    brokerAuthFailures: new Counter({
      name: 'vigil_broker_auth_failures_total',
      help: 'MQTT connections refused',
      registers: [registry],
    }),
    brokerEdgeRefusals: new Counter({
      name: 'vigil_broker_edge_refusals_total',
      help: 'MQTT sockets cut before login: too many pending per address, bytes over the pre-CONNECT cap, auth throttled',
      labelNames: ['reason'],
      registers: [registry],
    }),
    brokerAclDenials: new Counter({
      name: 'vigil_broker_acl_denials_total',
      help: 'MQTT publishes/subscriptions refused by the ACL',
      labelNames: ['action'],
      registers: [registry],
    }),
    // issue 5: batched InfluxDB writes, retries, held messages, broker rate limiting
    influxFlushes: new Histogram({
      name: 'vigil_influx_flush_points',
      help: 'Points per InfluxDB write batch',
      buckets: [1, 10, 50, 100, 500, 1000, 5000],
      registers: [registry],
    }),
    influxRetries: new Counter({
      name: 'vigil_influx_write_retries_total',
      help: 'InfluxDB write attempts that failed and were retried',
      registers: [registry],
    }),
    heldMessages: new Gauge({
      name: 'vigil_ingest_held_messages',
      help: 'MQTT messages held unacknowledged because a store is down',
      registers: [registry],
    }),
    brokerThrottled: new Counter({
      name: 'vigil_broker_throttled_publishes_total',
      help: 'Gateway publishes delayed by the per-gateway rate limit',
      registers: [registry],
    }),
  };
  return m;
}

export type HubMetrics = ReturnType<typeof createHubMetrics>;
