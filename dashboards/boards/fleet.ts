import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { HEARTBEAT_MEASUREMENT, READINGS_RP } from '../lib/datasources';
import { call, influxql } from '../lib/influxql';
import { COLORS, colouredCells, statPanel, tablePanel, trendPanel, vigilBoardLinks } from '../lib/panels';
import { influxTarget, postgresTarget } from '../lib/targets';

/** Fleet board for operators: home gateways, their buffers, device batteries and the ingest rate. */
export const FLEET_BOARD_UID = 'vigil-fleet';

const online = statPanel({
  title: 'Gateways online',
  description: 'Gateways whose retained status is online (birth message), against all enrolled and not revoked.',
  unit: 'none',
  width: 6,
  targets: [
    postgresTarget(
      'A',
      `SELECT count(*) FILTER (WHERE online) AS "online", count(*) FILTER (WHERE NOT online AND NOT revoked) AS "offline" FROM grafana.fleet_gateways`,
    ),
  ],
  steps: [{ value: null, color: COLORS.neutral }],
}).overrideByName('offline', [
  {
    id: 'thresholds',
    value: {
      mode: dashboard.ThresholdsMode.Absolute,
      steps: [
        { value: null, color: COLORS.ok },
        { value: 1, color: COLORS.amber },
      ],
    },
  },
]);

const gateways = tablePanel({
  title: 'Gateways',
  description:
    'Every gateway: online state, minutes since it was last seen, devices bound, program of its household patient.',
  width: 18,
  height: 8,
  targets: [
    postgresTarget(
      'A',
      `SELECT gateway_id AS "gateway", online, last_seen_at AS "last seen", last_seen_age_minutes AS "minutes ago", devices_bound AS "devices", program_id AS "program", revoked
       FROM grafana.fleet_gateways
       ORDER BY online, last_seen_at NULLS FIRST, gateway_id`,
    ),
  ],
}).overrideByName(
  'minutes ago',
  colouredCells([
    { value: null, color: COLORS.transparent },
    { value: 60, color: COLORS.amber },
    { value: 24 * 60, color: COLORS.red },
  ]),
);

const bufferDepth = trendPanel({
  title: 'Gateway buffer depth',
  description:
    'Readings waiting in each gateway’s durable queue (heartbeat queue.depth): a growing line is a gateway that cannot deliver.',
  unit: 'none',
  targets: [
    influxTarget(
      'A',
      influxql()
        .select(call('max', 'queue_depth'), 'depth')
        .from(HEARTBEAT_MEASUREMENT)
        .timeFilter()
        .groupByTime('$__interval')
        .groupByTags('gateway')
        .fill('none'),
      {
        alias: '$tag_gateway',
      },
    ),
  ],
});

const ingestRate = trendPanel({
  title: 'Ingest rate',
  description: 'Readings accepted by the hub per second, by arrival time (reading ledger).',
  unit: 'reqps',
  targets: [
    postgresTarget(
      'A',
      `SELECT $__timeGroupAlias(received_at, $__interval), count(*) / ($__interval_ms / 1000.0) AS "readings/s"
       FROM grafana.readings_received
       WHERE $__timeFilter(received_at)
       GROUP BY 1
       ORDER BY 1`,
      'time_series',
    ),
  ],
});

const batteries = tablePanel({
  title: 'Device battery levels',
  description: 'Last battery level reported by each device in the time range (battery_level readings), lowest first.',
  height: 8,
  targets: [
    influxTarget(
      'A',
      influxql()
        .select(call('last', 'value'), 'battery')
        .from('battery_level', { rp: READINGS_RP })
        .timeFilter()
        .groupByTags('gateway', 'device'),
      { resultFormat: 'table' },
    ),
  ],
})
  .overrideByName('battery', [
    ...colouredCells([
      { value: null, color: COLORS.red },
      { value: 20, color: COLORS.amber },
      { value: 40, color: COLORS.ok },
    ]),
    { id: 'unit', value: 'percent' },
  ])
  .sortBy([new common.TableSortByFieldStateBuilder().displayName('battery').desc(false)]);

const versions = tablePanel({
  title: 'Gateway software versions',
  description:
    'Software version each not-revoked gateway reports in its heartbeat, with how many run it and how many of those are online: the progress of a staged rollout (vigil-hub rollout).',
  width: 12,
  targets: [
    postgresTarget(
      'A',
      `SELECT version, gateways, online, last_report AS "last report" FROM grafana.fleet_versions ORDER BY gateways DESC, version`,
    ),
  ],
});

export function fleetBoard(): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder('Vigil · Fleet')
    .uid(FLEET_BOARD_UID)
    .description(
      'Home gateways online, last seen, buffer depth, device batteries, software versions and hub ingest rate.',
    )
    .tags(['vigil', 'fleet'])
    .editable()
    .time({ from: 'now-24h', to: 'now' })
    .timezone('browser')
    .refresh('1m')
    .link(vigilBoardLinks())
    .withPanel(online)
    .withPanel(gateways)
    .withPanel(bufferDepth)
    .withPanel(ingestRate)
    .withPanel(batteries)
    .withPanel(versions);
}
