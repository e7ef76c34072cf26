#!/usr/bin/env node
// Node.js peer for aw's benchmarks.
//
// Node has no tasks or coroutines; the nearest thing is an async function
// (a promise-returning state machine) scheduled by V8's microtask queue on
// top of libuv's event loop.  Workloads (see bench/README.md):
//
//   switch    N    two async functions each yield N times with
//                  `await new Promise(setImmediate)`, i.e. a trip through
//                  the event loop's check phase (the analogue of asyncio's
//                  sleep(0)); ns per switch = elapsed / (2N).  Also reports
//                  ns_per_switch_microtask, where the yield is `await null`
//                  (microtask queue only, never reaches the event loop).
//   spawn     N    call an empty async function N times in batches of 1000
//                  and await each returned promise; ns per task.  (The
//                  empty body runs synchronously inside the call.)
//   parked    N    N async functions parked on their own 1 h setTimeout;
//                  (VmRSS + VmPTE growth) / N in bytes per task
//   timers    N    N async functions each awaiting setTimeout(random 0-100
//                  ms, integer ms), all concurrent; seconds until all done
//   queue     N    ping-pong over two promise-based hand-off queues of
//                  capacity 1 (written here; Node has none built in);
//                  ns per round trip
//   lock      N [K] K async functions (default 4) each take/release a
//                  promise-based FIFO mutex (written here) N times with a
//                  setImmediate yield inside; ns per hand-off
//   to_thread N    postMessage round trip to one persistent worker_threads
//                  Worker that echoes it back (Node's JS cannot use libuv's
//                  thread pool directly); us per round trip
//   echo_server PORT   net.createServer, socket.pipe(socket)
//
// Run with `node --expose-gc bench.js ...` so `parked` can GC before
// measuring.  Output lines: RESULT <workload> <metric> <value> <unit>
'use strict';

const fs = require('fs');
const net = require('net');

function result(workload, metric, value, unit) {
  let text;
  if (Number.isInteger(value)) text = String(value);
  else if (Math.abs(value) < 1000) text = String(Number(value.toPrecision(4)));
  else text = value.toFixed(1);
  process.stdout.write(`RESULT ${workload} ${metric} ${text} ${unit}\n`);
}

function rssPteBytes() {
  let rss = 0, pte = 0;
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    if (line.startsWith('VmRSS:')) rss = parseInt(line.slice(6), 10);
    else if (line.startsWith('VmPTE:')) pte = parseInt(line.slice(6), 10);
  }
  return (rss + pte) * 1024;
}

function maxMapCount() {
  try { return parseInt(fs.readFileSync('/proc/sys/vm/max_map_count', 'utf8'), 10); }
  catch (e) { return -1; }
}

const nowNs = () => process.hrtime.bigint();
const elapsedNs = (t0) => Number(process.hrtime.bigint() - t0);
const yieldLoop = () => new Promise(setImmediate);
const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Deterministic PRNG (mulberry32) so every run sleeps the same delays.
function rng(seed) {
  return function () {
    seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function benchSwitch(n) {
  const loopYielder = async () => { for (let i = 0; i < n; i++) await yieldLoop(); };
  let t0 = nowNs();
  await Promise.all([loopYielder(), loopYielder()]);
  result('switch', 'ns_per_switch', elapsedNs(t0) / (2 * n), 'ns');

  const microYielder = async () => { for (let i = 0; i < n; i++) await null; };
  t0 = nowNs();
  await Promise.all([microYielder(), microYielder()]);
  result('switch', 'ns_per_switch_microtask', elapsedNs(t0) / (2 * n), 'ns');
}

async function benchSpawn(n) {
  const empty = async () => {};
  const batch = 1000;
  const t0 = nowNs();
  for (let done = 0; done < n;) {
    const k = Math.min(batch, n - done);
    const tasks = new Array(k);
    for (let i = 0; i < k; i++) tasks[i] = empty();
    for (let i = 0; i < k; i++) await tasks[i];
    done += k;
  }
  result('spawn', 'ns_per_task', elapsedNs(t0) / n, 'ns');
}

async function benchParked(n) {
  result('parked', 'max_map_count', maxMapCount(), 'maps');
  if (global.gc) global.gc();
  const before = rssPteBytes();
  const parked = async () => { await sleepMs(3600 * 1000); };
  const tasks = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = parked();
  await yieldLoop();
  if (global.gc) global.gc();
  const after = rssPteBytes();
  result('parked', 'bytes_per_task', (after - before) / n, 'B');
  process.exit(0);
}

async function benchTimers(n) {
  const r = rng(42);
  const delays = new Array(n);
  for (let i = 0; i < n; i++) delays[i] = Math.floor(r() * 101);
  const sleeper = async (ms) => { await sleepMs(ms); };
  const t0 = nowNs();
  const tasks = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = sleeper(delays[i]);
  await Promise.all(tasks);
  result('timers', 'seconds', elapsedNs(t0) / 1e9, 's');
}

// Bounded hand-off queue of capacity `cap`: put() waits while full, get()
// waits while empty.  Waiters are resumed in FIFO order.
class Queue {
  constructor(cap) { this.cap = cap; this.items = []; this.getters = []; this.putters = []; }
  async put(v) {
    while (this.items.length >= this.cap) await new Promise((res) => this.putters.push(res));
    this.items.push(v);
    const g = this.getters.shift();
    if (g) g();
  }
  async get() {
    while (this.items.length === 0) await new Promise((res) => this.getters.push(res));
    const v = this.items.shift();
    const p = this.putters.shift();
    if (p) p();
    return v;
  }
}

async function benchQueue(n) {
  const ping = new Queue(1), pong = new Queue(1);
  const echoer = async () => { for (let i = 0; i < n; i++) await pong.put(await ping.get()); };
  const t0 = nowNs();
  const other = echoer();
  for (let i = 0; i < n; i++) { await ping.put(i); await pong.get(); }
  await other;
  result('queue', 'ns_per_roundtrip', elapsedNs(t0) / n, 'ns');
}

// FIFO mutex: release() hands ownership directly to the oldest waiter.
class Mutex {
  constructor() { this.locked = false; this.waiters = []; }
  acquire() {
    if (!this.locked) { this.locked = true; return Promise.resolve(); }
    return new Promise((res) => this.waiters.push(res));
  }
  release() {
    const next = this.waiters.shift();
    if (next) next(); else this.locked = false;
  }
}

async function benchLock(n, k) {
  const mu = new Mutex();
  const worker = async () => {
    for (let i = 0; i < n; i++) {
      await mu.acquire();
      try { await yieldLoop(); } finally { mu.release(); }
    }
  };
  const t0 = nowNs();
  const ws = [];
  for (let w = 0; w < k; w++) ws.push(worker());
  await Promise.all(ws);
  result('lock', 'ns_per_handoff', elapsedNs(t0) / (n * k), 'ns');
}

async function benchToThread(n) {
  const { Worker } = require('worker_threads');
  const w = new Worker("require('worker_threads').parentPort.on('message', (m) => " +
                       "require('worker_threads').parentPort.postMessage(m));", { eval: true });
  let pending = null;
  w.on('message', () => { const r = pending; pending = null; r(); });
  const roundTrip = () => new Promise((res) => { pending = res; w.postMessage(0); });
  await roundTrip(); // wait for the worker to start
  const t0 = nowNs();
  for (let i = 0; i < n; i++) await roundTrip();
  result('to_thread', 'us_per_roundtrip', elapsedNs(t0) / n / 1000, 'us');
  await w.terminate();
}

function echoServer(port) {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {});
    sock.pipe(sock);
  });
  server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => {
    process.stdout.write(`listening on 127.0.0.1:${port} (node)\n`);
  });
}

const DEFAULT_N = {
  switch: 1e6, spawn: 1e6, parked: 1e5, timers: 1e6, queue: 2e5, lock: 1e5, to_thread: 2e4,
};

function parseN(s) {
  s = String(s).toLowerCase();
  let mult = 1;
  if (s.endsWith('k')) { mult = 1e3; s = s.slice(0, -1); }
  else if (s.endsWith('m')) { mult = 1e6; s = s.slice(0, -1); }
  const v = parseInt(s, 10);
  if (!(v > 0)) { console.error(`bad number ${s}`); process.exit(2); }
  return v * mult;
}

async function main(argv) {
  const what = argv[0];
  if (what === 'echo_server') { echoServer(argv[1] ? parseInt(argv[1], 10) : 9000); return; }
  if (!(what in DEFAULT_N)) { console.error(`usage: bench.js <workload> [N|PORT] [K]`); process.exit(2); }
  const n = argv[1] ? parseN(argv[1]) : DEFAULT_N[what];
  switch (what) {
    case 'switch': await benchSwitch(n); break;
    case 'spawn': await benchSpawn(n); break;
    case 'parked': await benchParked(n); break;
    case 'timers': await benchTimers(n); break;
    case 'queue': await benchQueue(n); break;
    case 'lock': await benchLock(n, argv[2] ? parseN(argv[2]) : 4); break;
    case 'to_thread': await benchToThread(n); break;
  }
}

main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1); });
