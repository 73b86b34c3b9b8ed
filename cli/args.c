/* args.c - parsing the values of command-line options. */
#include "cli.h"

#include <ctype.h>
#include <float.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

int cli_parse_float(const char *s, float lo, float hi, float *out)
{
	char *end;
	errno = 0;
	float v = strtof(s, &end);
	/* strtof reports underflow (a subnormal or zero result from a non-zero
	 * number) as ERANGE with |v| < FLT_MIN: say so rather than "out of range". */
	if (*s && !*end && errno == ERANGE && fabsf(v) < FLT_MIN)
		return CLI_FLOAT_TINY;
	if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi)
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

lutdb_dtype cli_parse_dtype(const char *s)
{
	if (!strcmp(s, "f32") || !strcmp(s, "F32") || !strcmp(s, "float32"))
		return LUTDB_DTYPE_F32;
	if (!strcmp(s, "f16") || !strcmp(s, "F16") || !strcmp(s, "float16"))
		return LUTDB_DTYPE_F16;
	if (!strcmp(s, "bf16") || !strcmp(s, "BF16") || !strcmp(s, "bfloat16"))
		return LUTDB_DTYPE_BF16;
	return (lutdb_dtype)0;
}
