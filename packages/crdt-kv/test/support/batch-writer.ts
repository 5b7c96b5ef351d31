/**
 * A process for the put-many crash test: writes batches to an embedded
 * replica with putManyAsync (several in flight at once, sharing fsyncs) and
 * putMany, printing "acked <n>" once batch n is durable, until killed.
 * argv: dataDir.
 */
import { KvDriver } from "../../src/io/driver.ts";

const driver = await KvDriver.start({ id: "w", dataDir: process.argv[2]!, core: { snapshotEveryRecords: 40 } });
let n = 0;
const batch = (i: number) => Array.from({ length: 20 }, (_, j) => ({ key: `b${i}/k${j}`, value: { i, j }, ts: i * 100 + j }));
for (;;) {
  const i = n++;
  if (i % 5 === 4) {
    driver.putMany([...batch(i), { key: `b${i - 1}/k0`, delete: true, ts: 1e12 }]);
    process.stdout.write(`acked ${i}\n`);
  } else {
    void driver.putManyAsync(batch(i)).durable.then(() => process.stdout.write(`acked ${i}\n`));
  }
  await new Promise((r) => setTimeout(r, i % 3));
}
