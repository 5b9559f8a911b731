// autocannon setupRequest, loaded in its worker thread: each request carries the next unused token
// of the pool the bench wrote to BENCH_POOL_FILE.
const { readFileSync } = require('node:fs');

const pool = JSON.parse(readFileSync(process.env.BENCH_POOL_FILE, 'utf8'));
let next = 0;

module.exports = (request) => ({
  ...request,
  headers: { ...request.headers, 'cf-access-jwt-assertion': pool[next++ % pool.length] },
});
