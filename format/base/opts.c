/* opts.c - checking the size of an option struct (opts.h). */
#include "opts.h"

#include <stdint.h>

#include "fail.h"

int lutdb_opts_check(const void *o, size_t size, size_t known, size_t min, const char *what)
{
	const uint8_t *b = o;

	if (!o)
		return LUTDB_OK;
	if (size < min)
		return lutdb_fail(LUTDB_EINVAL, "%s: options of %zu bytes: set .size to sizeof the struct (at least %zu)",
				  what, size, min);
	for (size_t i = known; i < size; i++)
		if (b[i])
			return lutdb_fail(LUTDB_EUNSUPPORTED,
					  "%s: the options set a field this library (%zu-byte struct) does not know", what,
					  known);
	return LUTDB_OK;
}
