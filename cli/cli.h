/* cli.h - helpers shared by the lutdb commands. */
#ifndef LUTDB_CLI_H
#define LUTDB_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "lutdb.h"

/* Each command: argc/argv start at the command name. Returns the exit code. */
typedef struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} cli_cmd;

int cmd_pack(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_shard(int argc, char **argv);
int cmd_merge(int argc, char **argv);

/* The process exit status for a library error code (exit_status.c). */
int cli_exit_status(int code);

/* Prints "lutdb CMD: DETAIL (WORDS)" for a library failure and returns the
 * documented exit code for rc. */
int cli_fail(const char *cmd, int rc);
/* Prints "lutdb CMD: MESSAGE" and returns exit code 2 (usage). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress bar on stderr: shown only when stderr is a terminal and not quiet.
 * unit names what is counted ("rows", "bytes"). */
typedef struct cli_progress {
	const char *label, *unit;
	int enabled;
	double start, last;
	uint64_t total;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label, const char *unit, int quiet);
/* lutdb_progress_fn: draws and returns nonzero when a signal asked to stop. */
int cli_progress_cb(void *ctx, uint64_t done, uint64_t total);
void cli_progress_done(cli_progress *p);

/* SIGINT/SIGTERM/SIGHUP set a flag that progress callbacks turn into a clean
 * cancellation (temporary files removed, exit 130). */
void cli_install_signals(void);
extern volatile sig_atomic_t cli_stop;

/* "4095M", "2G", "512K", "1000": binary suffixes.  -1 on error. */
int cli_parse_size(const char *s, uint64_t *out);
/* Unsigned integer in [lo, hi]; -1 on error. */
int cli_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* "f32|f16|bf16" -> dtype code, 0 on error. */
int cli_parse_dtype(const char *s);
/* Lower-case hex of 16 bytes into out[33]. */
void cli_hex16(const uint8_t in[16], char out[33]);
/* Human size: "3.71 GB". */
void cli_human(uint64_t bytes, char *buf, size_t n);
double cli_now(void);

/* Opens a database (file or shard manifest) for a command; prints the error. */
int cli_open(const char *cmd, const char *path, unsigned flags, lutdb_db **db);

#endif
