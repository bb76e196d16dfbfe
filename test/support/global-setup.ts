import { ensureInfluxd, type InfluxdHandle } from '../../scripts/lib/influxd';

let influx: InfluxdHandle | undefined;

/** Starts the project's InfluxDB when absent; integration suites each create their own databases. */
export default async function setup(): Promise<() => Promise<void>> {
  influx = await ensureInfluxd();
  process.env.VIGIL_TEST_INFLUX_URL = influx.url;
  return async () => {
    await influx?.stop();
  };
}
