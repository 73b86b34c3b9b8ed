/*
 * cli.h - what the lutdb commands share.  The command is a client of the
 * installed public headers only (lutdb.h, lutdb_runtime.h, lutdb_tokenizer.h,
 * lutdb_pack.h): the build gives cli/ no other folder of ours (Makefile,
 * USES_cli), so it can do nothing a program linking liblutdb cannot.
 */
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
int cmd_quantize(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* ---- failures (error.c) ------------------------------------------------------
 * Every failure is one stderr line, "lutdb CMD: CONTEXT (WORDS)", and the
 * exit status of exit_status.c. */

/* Records the command's own context for a failure it found itself (the
 * library's lutdb_errdetail() is the library's); returns code, for
 * `return cli_error(LUTDB_EIO, "stdout: write error");`.  printf-style. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Puts more context in front of the current one ("PREFIX: " + context);
 * returns code. */
int cli_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "lutdb CMD: CONTEXT (WORDS)" for rc (the command's pending context
 * for rc, else the library's) and returns the exit status for rc. */
int cli_fail(const char *cmd, int rc);
/* Prints "lutdb CMD: MESSAGE (see 'lutdb CMD --help')" and returns 2 (usage). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens a database (file or shard manifest) for a command; prints the
 * failure and returns its exit status, or 0. */
int cli_open(const char *cmd, const char *path, unsigned flags, lutdb_db **db);

/* Flushes and closes stdout as the command ends (stdout.c): a write that
 * failed at any point, or fails now, turns a successful status into exit 5
 * with one line ("stdout: write error: ..."); a failed status is kept, its
 * line already printed.  Returns the exit status. */
int cli_stdout_close(const char *cmd, int status);

/* The process exit status for a library error code (exit_status.c). */
int cli_exit_status(int code);

/* ---- progress and cancellation (progress.c) ---------------------------------
 * Progress bar on stderr: shown only when stderr is a terminal and not quiet.
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
/* Monotonic seconds. */
double cli_now(void);

/* ---- option values (args.c) ------------------------------------------------ */
/* "4095M", "2G", "512K", "1000": binary suffixes.  -1 on error. */
int cli_parse_size(const char *s, uint64_t *out);
/* Unsigned integer in [lo, hi]; -1 on error. */
int cli_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* A finite number in [lo, hi]: 0, -1 (not a number in [lo, hi]) or CLI_FLOAT_TINY (a non-zero number
 * below the smallest normal float, FLT_MIN = 1.17549435e-38). */
#define CLI_FLOAT_TINY (-2)
int cli_parse_float(const char *s, float lo, float hi, float *out);
/* "f32|f16|bf16" -> dtype, 0 on error. */
lutdb_dtype cli_parse_dtype(const char *s);

#endif
