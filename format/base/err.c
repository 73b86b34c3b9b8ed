/* err.c - error codes, words and the per-thread failure detail. */
#include "fail.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETAIL_MAX 512

static _Thread_local char detail[DETAIL_MAX];

const char *lutdb_strerror(int code)
{
	switch (code) {
#define LUTDB_X_CASE(name, value, msg) case value: return msg;
		LUTDB_ERROR_LIST(LUTDB_X_CASE)
#undef LUTDB_X_CASE
	}
	return "unknown error";
}

void lutdb_free(void *p)
{
	free(p);
}

const char *lutdb_errdetail(void)
{
	return detail;
}

void lutdb_errclear(void)
{
	detail[0] = '\0';
}

int lutdb_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return code;
}

int lutdb_fail_prefix(int code, const char *fmt, ...)
{
	char old[DETAIL_MAX];
	size_t n;
	va_list ap;

	memcpy(old, detail, sizeof old);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	n = strlen(detail);
	if (old[0] != '\0' && n + 2 < sizeof detail)
		snprintf(detail + n, sizeof detail - n, ": %.*s", (int)(sizeof detail - n - 3), old);
	return code;
}

int lutdb_corrupt_at(const char *file, int line, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	n = strlen(detail);
	if (n + 2 < sizeof detail)
		snprintf(detail + n, sizeof detail - n, " [check at %s:%d]", file, line);
	return LUTDB_ECORRUPT;
}
