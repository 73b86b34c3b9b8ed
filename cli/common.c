/* common.c - error reporting, progress, signals and argument parsing. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t cli_stop;

int cli_fail(const char *cmd, int rc)
{
	const char *d = lutdb_errdetail();

	if (d && *d)
		fprintf(stderr, "lutdb %s: %s (%s)\n", cmd, d, lutdb_strerror(rc));
	else
		fprintf(stderr, "lutdb %s: %s\n", cmd, lutdb_strerror(rc));
	return cli_exit_status(rc);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lutdb %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'lutdb %s --help')\n", cmd);
	return 2;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_hex16(const uint8_t in[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

void cli_human(uint64_t b, char *buf, size_t n)
{
	const char *u[] = {"B", "KB", "MB", "GB", "TB"};
	double v = (double)b;
	int i = 0;

	while (v >= 1000.0 && i < 4) {
		v /= 1000.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)b);
	else
		snprintf(buf, n, "%.2f %s", v, u[i]);
}

void cli_progress_init(cli_progress *p, const char *label, const char *unit, int quiet)
{
	memset(p, 0, sizeof *p);
	p->label = label;
	p->unit = unit;
	p->enabled = !quiet && isatty(STDERR_FILENO);
	p->start = p->last = cli_now();
}

int cli_progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	cli_progress *p = ctx;
	double now = cli_now();

	if (cli_stop)
		return 1;
	if (!p || !p->enabled || (now - p->last < 0.1 && done < total))
		return 0;
	p->last = now;
	p->total = total;
	double el = now - p->start, rate = el > 0 ? (double)done / el : 0, frac = total ? (double)done / (double)total : 1;
	double eta = rate > 0 ? (double)(total - done) / rate : 0;
	char bar[31];
	int fill = (int)(frac * 30);
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
	bar[30] = '\0';
	if (!strcmp(p->unit, "bytes"))
		fprintf(stderr, "\r%s [%s] %3.0f%% %.1f MB/s ETA %d:%02d ", p->label, bar, frac * 100, rate / 1e6,
			(int)eta / 60, (int)eta % 60);
	else
		fprintf(stderr, "\r%s [%s] %3.0f%% %llu/%llu %s %.0f %s/s ETA %d:%02d ", p->label, bar, frac * 100,
			(unsigned long long)done, (unsigned long long)total, p->unit, rate, p->unit, (int)eta / 60,
			(int)eta % 60);
	return 0;
}

void cli_progress_done(cli_progress *p)
{
	if (p->enabled && p->total)
		fprintf(stderr, "\n");
}

static void on_signal(int sig)
{
	(void)sig;
	cli_stop = 1;
}

void cli_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cli_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	default: return -1;
	}
	if (*end && end[1] && !((end[1] == 'i' || end[1] == 'B') && (!end[2] || (end[1] == 'i' && end[2] == 'B' && !end[3]))))
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return *out ? 0 : -1;
}

int cli_parse_dtype(const char *s)
{
	if (!strcmp(s, "f32") || !strcmp(s, "F32") || !strcmp(s, "float32"))
		return LUTDB_DTYPE_F32;
	if (!strcmp(s, "f16") || !strcmp(s, "F16") || !strcmp(s, "float16"))
		return LUTDB_DTYPE_F16;
	if (!strcmp(s, "bf16") || !strcmp(s, "BF16") || !strcmp(s, "bfloat16"))
		return LUTDB_DTYPE_BF16;
	return 0;
}

int cli_open(const char *cmd, const char *path, unsigned flags, lutdb_db **db)
{
	int rc = lutdb_open(path, flags, db);
	return rc ? cli_fail(cmd, rc) : 0;
}
