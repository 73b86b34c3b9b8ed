/*
 * mhd.h - libmicrohttpd, loaded when the server starts (mhd.c).
 *
 * Why not linked: libmicrohttpd pulls in GnuTLS and its dozen libraries,
 * which every other command would then map at startup for nothing (and
 * tests of them under address-space limits would see it).  So `lutdb serve`
 * loads libmicrohttpd.so.12 with dlopen and calls it through this table;
 * the declarations (and so the types checked here) are still the
 * installed <microhttpd.h>.  Call sites write mhd.start_daemon(...) for
 * MHD_start_daemon(...).
 */
#ifndef LUTDB_SERVE_MHD_H
#define LUTDB_SERVE_MHD_H

#include <microhttpd.h>

typedef struct serve_mhd {
	__typeof__(&MHD_start_daemon) start_daemon;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_quiesce_daemon) quiesce_daemon;
	__typeof__(&MHD_get_daemon_info) get_daemon_info;
	__typeof__(&MHD_get_connection_info) get_connection_info;
	__typeof__(&MHD_lookup_connection_value) lookup_connection_value;
	__typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
	__typeof__(&MHD_create_response_from_callback) create_response_from_callback;
	__typeof__(&MHD_add_response_header) add_response_header;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_destroy_response) destroy_response;
} serve_mhd;

extern serve_mhd mhd;

/* Loads the library and fills mhd (once; the handle is never closed).
 * 0, or -1 with one line on stderr saying what is missing. */
int mhd_load(void);

#endif
