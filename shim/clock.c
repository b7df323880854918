/*
 * ferrocheck's clock shim: an LD_PRELOAD library that shifts a process's wall clock.
 *
 * It replaces clock_gettime (for the realtime clocks), gettimeofday, time and timespec_get.
 * The real time comes from raw system calls, never from dlsym (which may allocate, and an
 * allocator that asks for the time while dlsym allocates would deadlock). The offset comes from
 * the file named by FERROCHECK_CLOCK_FILE, re-read at most every 10 ms with raw open/read/close,
 * so nothing here allocates. The file holds three integers:
 *
 *     offset_ns strobe_delta_ns strobe_period_ns
 *
 * The clock reads real time + offset_ns, plus strobe_delta_ns during every other period of
 * strobe_period_ns (when the period is not zero). A missing file means no offset. The harness
 * writes the file atomically (write a temporary file, then rename).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RECHECK_NS 10000000LL
#define NS_PER_S 1000000000LL

static int64_t offset_ns, strobe_delta_ns, strobe_period_ns;
static int64_t last_read_ns; /* 0: never read */
static int reading; /* a spin-free try-lock around re-reading the file */
static int path_state; /* 0 unknown, 1 have a path, 2 no path */
static char path[4096];

static long raw_clock_gettime(clockid_t clock, struct timespec *ts) {
    return syscall(SYS_clock_gettime, clock, ts);
}

static int64_t parse_int(const char **p, const char *end) {
    int64_t v = 0;
    int neg = 0;
    while (*p < end && (**p == ' ' || **p == '\n' || **p == '\t')) (*p)++;
    if (*p < end && **p == '-') { neg = 1; (*p)++; }
    while (*p < end && **p >= '0' && **p <= '9') { v = v * 10 + (**p - '0'); (*p)++; }
    return neg ? -v : v;
}

static void find_path(void) {
    int state = __atomic_load_n(&path_state, __ATOMIC_ACQUIRE);
    if (state != 0) return;
    const char *p = getenv("FERROCHECK_CLOCK_FILE");
    size_t n = 0;
    if (p != NULL) {
        while (p[n] != '\0' && n + 1 < sizeof path) { path[n] = p[n]; n++; }
        path[n] = '\0';
    }
    __atomic_store_n(&path_state, n > 0 ? 1 : 2, __ATOMIC_RELEASE);
}

static void reread(int64_t now_ns) {
    int64_t last = __atomic_load_n(&last_read_ns, __ATOMIC_RELAXED);
    if (last != 0 && now_ns >= last && now_ns - last < RECHECK_NS) return;
    if (__atomic_exchange_n(&reading, 1, __ATOMIC_ACQUIRE)) return;
    find_path();
    int64_t off = 0, delta = 0, period = 0;
    if (__atomic_load_n(&path_state, __ATOMIC_ACQUIRE) == 1) {
        long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char buf[128];
            long n = syscall(SYS_read, fd, buf, sizeof buf);
            syscall(SYS_close, fd);
            if (n > 0) {
                const char *p = buf, *end = buf + n;
                off = parse_int(&p, end);
                delta = parse_int(&p, end);
                period = parse_int(&p, end);
            }
        }
    }
    __atomic_store_n(&offset_ns, off, __ATOMIC_RELAXED);
    __atomic_store_n(&strobe_delta_ns, delta, __ATOMIC_RELAXED);
    __atomic_store_n(&strobe_period_ns, period, __ATOMIC_RELAXED);
    __atomic_store_n(&last_read_ns, now_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&reading, 0, __ATOMIC_RELEASE);
}

static int64_t skew_for(int64_t real_ns) {
    reread(real_ns);
    int64_t off = __atomic_load_n(&offset_ns, __ATOMIC_RELAXED);
    int64_t period = __atomic_load_n(&strobe_period_ns, __ATOMIC_RELAXED);
    if (period > 0 && (real_ns / period) % 2 == 1)
        off += __atomic_load_n(&strobe_delta_ns, __ATOMIC_RELAXED);
    return off;
}

static int is_wall_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE
#ifdef CLOCK_REALTIME_ALARM
        || clock == CLOCK_REALTIME_ALARM
#endif
#ifdef CLOCK_TAI
        || clock == CLOCK_TAI
#endif
        ;
}

static void shift(struct timespec *ts, int64_t by) {
    int64_t ns = (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec + by;
    ts->tv_sec = (time_t)(ns / NS_PER_S);
    ts->tv_nsec = (long)(ns % NS_PER_S);
    if (ts->tv_nsec < 0) { ts->tv_nsec += NS_PER_S; ts->tv_sec -= 1; }
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    long r = raw_clock_gettime(clock, ts);
    if (r == 0 && is_wall_clock(clock)) {
        struct timespec real;
        if (raw_clock_gettime(CLOCK_REALTIME, &real) == 0)
            shift(ts, skew_for((int64_t)real.tv_sec * NS_PER_S + real.tv_nsec));
    }
    return (int)r;
}

int __clock_gettime(clockid_t clock, struct timespec *ts) { return clock_gettime(clock, ts); }

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
    if (tv != NULL) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
    if (out != NULL) *out = ts.tv_sec;
    return ts.tv_sec;
}

int timespec_get(struct timespec *ts, int base) {
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0) return 0;
    return base;
}
