/*
 * peer_util.h - tiny header-only helpers for the C programs of bench/ that
 * do not use aw: the libuv peer (the .c files in peers/libuv/) and echo_load.c.
 * (aw's own bench programs have their own bench/bench_util.h.)
 *
 * Output convention (see bench/README.md):
 *
 *     RESULT <workload> <metric> <value> <unit>
 */
#ifndef AW_BENCH_PEER_UTIL_H
#define AW_BENCH_PEER_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic clock in nanoseconds. */
static inline uint64_t peer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parse argv[idx] as a positive integer, or return def when absent.
 * Accepts plain digits and an optional k/m suffix ("100k", "1m"). */
static inline long peer_arg_long(int argc, char **argv, int idx, long def)
{
    if (idx >= argc || argv[idx] == NULL || argv[idx][0] == '\0')
        return def;
    char *end = NULL;
    errno = 0;
    long v = strtol(argv[idx], &end, 10);
    if (errno != 0 || end == argv[idx] || v <= 0) {
        fprintf(stderr, "bad numeric argument '%s'\n", argv[idx]);
        exit(2);
    }
    if (*end == 'k' || *end == 'K')
        v *= 1000;
    else if (*end == 'm' || *end == 'M')
        v *= 1000000;
    else if (*end != '\0') {
        fprintf(stderr, "bad numeric argument '%s'\n", argv[idx]);
        exit(2);
    }
    return v;
}

/* Read a "Name:   123 kB" field of /proc/self/status, in kB (-1 if absent). */
static inline long peer_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t flen = strlen(field);
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Resident memory plus page-table memory, in bytes: the "parked" metric. */
static inline long long peer_rss_pte_bytes(void)
{
    long rss = peer_status_kb("VmRSS");
    long pte = peer_status_kb("VmPTE");
    if (rss < 0)
        rss = 0;
    if (pte < 0)
        pte = 0;
    return (long long)(rss + pte) * 1024;
}

/* Contents of /proc/sys/vm/max_map_count (-1 if unreadable). */
static inline long peer_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (!f)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static inline void peer_result(const char *workload, const char *metric,
                               double value, const char *unit)
{
    if (value == (double)(long long)value && value < 1e15 && value > -1e15)
        printf("RESULT %s %s %lld %s\n", workload, metric, (long long)value, unit);
    else if (value >= 1000.0 || value <= -1000.0)
        printf("RESULT %s %s %.1f %s\n", workload, metric, value, unit);
    else
        printf("RESULT %s %s %.4g %s\n", workload, metric, value, unit);
    fflush(stdout);
}

#endif /* AW_BENCH_PEER_UTIL_H */
