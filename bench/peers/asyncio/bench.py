#!/usr/bin/python3
"""asyncio / uvloop peer for aw's benchmarks.

Measures, on CPython's asyncio event loop (or uvloop's with --uvloop):

  switch    N   two tasks each do `await asyncio.sleep(0)` N times;
                ns per switch = elapsed / (2N)
  spawn     N   create N empty tasks with asyncio.create_task() in batches
                of 1000 and await each; ns per task
  parked    N   N tasks parked in `await asyncio.sleep(3600)` at once;
                (VmRSS + VmPTE growth) / N in bytes per task
  timers    N   N tasks each `await asyncio.sleep(random 0-100 ms)`, all
                concurrent; seconds from first create_task until all done
  queue     N   ping-pong over two asyncio.Queue(maxsize=1); ns per round trip
  lock      N [K]  K tasks (default 4) each acquire/release one asyncio.Lock
                N times with `await asyncio.sleep(0)` inside; ns per hand-off
  to_thread N   `await asyncio.to_thread(empty)` N times in sequence;
                us per round trip through the default thread pool
  echo_server PORT   asyncio streams TCP echo server on 127.0.0.1:PORT,
                serves until killed

Run with Debian's /usr/bin/python3 (python3-uvloop is installed for it).
Every result is printed as `RESULT <workload> <metric> <value> <unit>`.
"""

import asyncio
import gc
import os
import random
import sys
import time

USE_UVLOOP = False


def result(workload, metric, value, unit):
    if isinstance(value, int):
        text = str(value)
    elif abs(value) < 1000:
        text = f"{value:.4g}"
    else:
        text = f"{value:.1f}"
    print(f"RESULT {workload} {metric} {text} {unit}", flush=True)


def rss_pte_bytes():
    rss = pte = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmPTE:"):
                pte = int(line.split()[1])
    return (rss + pte) * 1024


def max_map_count():
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except OSError:
        return -1


# --------------------------------------------------------------- workloads

async def bench_switch(n):
    async def yielder():
        for _ in range(n):
            await asyncio.sleep(0)

    t0 = time.perf_counter_ns()
    await asyncio.gather(yielder(), yielder())
    dt = time.perf_counter_ns() - t0
    result("switch", "ns_per_switch", dt / (2 * n), "ns")


async def bench_spawn(n):
    async def empty():
        pass

    batch = 1000
    done = 0
    t0 = time.perf_counter_ns()
    while done < n:
        k = min(batch, n - done)
        tasks = [asyncio.create_task(empty()) for _ in range(k)]
        for t in tasks:
            await t
        done += k
    dt = time.perf_counter_ns() - t0
    result("spawn", "ns_per_task", dt / n, "ns")


async def bench_parked(n):
    result("parked", "max_map_count", max_map_count(), "maps")

    async def parked():
        await asyncio.sleep(3600)

    gc.collect()
    before = rss_pte_bytes()
    tasks = [asyncio.create_task(parked()) for _ in range(n)]
    # One trip through the loop runs every task up to its sleep.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gc.collect()
    after = rss_pte_bytes()
    result("parked", "bytes_per_task", (after - before) / n, "B")
    # Tearing down 1M pending tasks takes longer than the measurement; the
    # process has nothing left to do, so leave without the cleanup.
    del tasks
    sys.stdout.flush()
    os._exit(0)


async def bench_timers(n):
    rnd = random.Random(42)
    delays = [rnd.random() * 0.1 for _ in range(n)]

    async def sleeper(d):
        await asyncio.sleep(d)

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(sleeper(d)) for d in delays]
    await asyncio.gather(*tasks)
    dt = time.perf_counter() - t0
    result("timers", "seconds", dt, "s")


async def bench_queue(n):
    ping = asyncio.Queue(maxsize=1)
    pong = asyncio.Queue(maxsize=1)

    async def echoer():
        for _ in range(n):
            v = await ping.get()
            await pong.put(v)

    t0 = time.perf_counter_ns()
    other = asyncio.create_task(echoer())
    for i in range(n):
        await ping.put(i)
        await pong.get()
    await other
    dt = time.perf_counter_ns() - t0
    result("queue", "ns_per_roundtrip", dt / n, "ns")


async def bench_lock(n, k):
    lock = asyncio.Lock()

    async def worker():
        for _ in range(n):
            async with lock:
                await asyncio.sleep(0)

    t0 = time.perf_counter_ns()
    await asyncio.gather(*(worker() for _ in range(k)))
    dt = time.perf_counter_ns() - t0
    result("lock", "ns_per_handoff", dt / (n * k), "ns")


def _empty():
    return None


async def bench_to_thread(n):
    await asyncio.to_thread(_empty)  # start the pool's first worker
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.to_thread(_empty)
    dt = time.perf_counter_ns() - t0
    result("to_thread", "us_per_roundtrip", dt / n / 1000, "us")


async def echo_server(port):
    async def handle(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port,
                                        backlog=1024)
    print(f"listening on 127.0.0.1:{port}"
          f" ({'uvloop' if USE_UVLOOP else 'asyncio'})", flush=True)
    async with server:
        await server.serve_forever()


DEFAULT_N = {
    "switch": 1_000_000,
    "spawn": 1_000_000,
    "parked": 100_000,
    "timers": 1_000_000,
    "queue": 200_000,
    "lock": 100_000,
    "to_thread": 20_000,
}


def parse_n(s):
    s = s.lower()
    mult = 1
    if s.endswith("k"):
        mult, s = 1000, s[:-1]
    elif s.endswith("m"):
        mult, s = 1_000_000, s[:-1]
    return int(s) * mult


def main(argv):
    global USE_UVLOOP
    args = [a for a in argv if a != "--uvloop"]
    USE_UVLOOP = len(args) != len(argv)
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    if USE_UVLOOP:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    what = args[0]
    if what == "echo_server":
        port = int(args[1]) if len(args) > 1 else 9000
        try:
            asyncio.run(echo_server(port))
        except KeyboardInterrupt:
            pass
        return 0
    if what not in DEFAULT_N:
        print(f"unknown workload {what!r}", file=sys.stderr)
        return 2
    n = parse_n(args[1]) if len(args) > 1 else DEFAULT_N[what]
    if what == "lock":
        k = int(args[2]) if len(args) > 2 else 4
        coro = bench_lock(n, k)
    else:
        coro = globals()["bench_" + what](n)
    asyncio.run(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
