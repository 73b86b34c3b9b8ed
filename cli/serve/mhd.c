/* mhd.c - loading libmicrohttpd at run time (mhd.h says why). */
#include "mhd.h"

#include <dlfcn.h>
#include <stdio.h>

serve_mhd mhd;

int mhd_load(void)
{
	static const char *const names[] = {"libmicrohttpd.so.12", "libmicrohttpd.so"};
	void *h = NULL;

	if (mhd.start_daemon)
		return 0;
	for (size_t i = 0; !h && i < sizeof names / sizeof *names; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "lutdb serve: cannot load libmicrohttpd (Debian: libmicrohttpd12): %s\n", dlerror());
		return -1;
	}
#define LOAD(field, sym)                                                                                         \
	if (!(mhd.field = (__typeof__(mhd.field))dlsym(h, #sym))) {                                              \
		fprintf(stderr, "lutdb serve: libmicrohttpd lacks %s\n", #sym);                                  \
		return -1;                                                                                       \
	}
	LOAD(stop_daemon, MHD_stop_daemon)
	LOAD(quiesce_daemon, MHD_quiesce_daemon)
	LOAD(get_daemon_info, MHD_get_daemon_info)
	LOAD(get_connection_info, MHD_get_connection_info)
	LOAD(lookup_connection_value, MHD_lookup_connection_value)
	LOAD(create_response_from_buffer, MHD_create_response_from_buffer)
	LOAD(create_response_from_callback, MHD_create_response_from_callback)
	LOAD(add_response_header, MHD_add_response_header)
	LOAD(queue_response, MHD_queue_response)
	LOAD(destroy_response, MHD_destroy_response)
	LOAD(start_daemon, MHD_start_daemon) /* last: it marks the table complete */
#undef LOAD
	return 0;
}
