// The client side of bench/load.ts: one autocannon run, in plain node (tsx 4.19's resolver picks a `module-sync`
// file of a transitive dependency of autocannon that Node 20 cannot load, so this file stays JavaScript).
//   node bench/load-client.mjs '{"url":"http://127.0.0.1:PORT","mode":"dense","k":10,"connections":16,"amount":2000,"seconds":10,"queries":[...]}'
// Prints one JSON line: requests, duration (s), latency p50/p99 (ms), errors, timeouts, non2xx, 503s, mean batch.
import autocannon from "autocannon";

const o = JSON.parse(process.argv[2]);
let next = 0;
const batches = [];
const instance = autocannon({
  url: `${o.url}/search`,
  connections: o.connections,
  amount: o.amount,
  timeout: 30,
  requests: [{
    method: "POST",
    headers: { "content-type": "application/json" },
    setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: o.queries[next++ % o.queries.length], k: o.k, mode: o.mode }) }),
    onResponse: (status, body) => {
      if (status === 200) batches.push(JSON.parse(body).batch);
    },
  }],
}, (err, result) => {
  clearTimeout(timer);
  if (err) {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({
    requests: result.requests.total, duration: result.duration, p50: result.latency.p50, p99: result.latency.p99,
    errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, status503: result.statusCodeStats?.["503"]?.count ?? 0,
    meanBatch: batches.length ? batches.reduce((a, b) => a + b, 0) / batches.length : null,
  })}\n`);
});
// Bounded in time as well as in count.
const timer = setTimeout(() => instance.stop(), o.seconds * 1000);
