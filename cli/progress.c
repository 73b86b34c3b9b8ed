/* progress.c - the progress bar of the long commands and the signals that
 * cancel them. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t cli_stop;

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
