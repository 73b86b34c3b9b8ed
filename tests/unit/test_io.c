/* test_io.c - files from outside: what the store opens, reads and replaces
 * (lutdb.h, "files from outside"; spec/SECURITY.md, "Paths"), trailing
 * bytes, and what the writers reserve on disk. */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "lutdb.h"
#include "lutdb_pack.h"
#include "testutil.h"

static char *dir;
static char db_path[4096];

static void setup(void)
{
	dir = scratch_dir();
	snprintf(db_path, sizeof db_path, "%s/model.lutdb", dir);
}

static void teardown(void)
{
	alarm(0);
	rm_rf(dir);
	free(dir);
}

/* dir/name in a static buffer (one of four, so a call can take two). */
static const char *at(const char *name)
{
	static char buf[4][4096];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* A database from the reference fixture mole_rep_f16, packed at p. */
static void make_db(const char *p)
{
	char src[4096];
	lutdb_pack_opts o = {.size = sizeof o, .threads = 1};

	snprintf(src, sizeof src, "%s/mole_rep_f16/ckpt", fixtures_dir());
	int rc = lutdb_pack(src, p, &o);
	ck_assert_msg(rc == LUTDB_OK, "pack: %s", lutdb_errdetail());
}

static void make_fifo(const char *p)
{
	ck_assert_int_eq(mkfifo(p, 0600), 0);
}

/* A listening-less Unix socket bound at p (the file stays after close). */
static void make_socket(const char *p)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_uint_lt(strlen(p), sizeof a.sun_path);
	strcpy(a.sun_path, p);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	close(s);
}

static mode_t type_of(const char *p)
{
	struct stat st;
	ck_assert_int_eq(lstat(p, &st), 0);
	return st.st_mode & S_IFMT;
}

/* A FIFO blocks open(2) for reading until a writer comes: the calls below
 * must return at once, so a hang fails the test instead of stalling it
 * (SIGALRM; teardown cancels it, for suites run without fork). */
static void no_hang(void)
{
	alarm(getenv("LUTDB_VALGRIND") ? 900 : 30);
}

/* ---- inputs ------------------------------------------------------------------ */

START_TEST(input_open_refuses_what_is_not_a_regular_file)
{
	int fd;
	uint64_t size;

	no_hang();
	make_fifo(at("fifo"));
	EXPECT(lutdb_input_open(at("fifo"), LUTDB_ESHARD, &fd, &size), LUTDB_ESHARD, "not a regular file (a FIFO)");
	ck_assert_int_eq(fd, -1);
	EXPECT(lutdb_input_open(dir, LUTDB_EINVAL, &fd, &size), LUTDB_EINVAL, "not a regular file (a directory)");
	EXPECT(lutdb_input_open("/dev/null", LUTDB_EBADINPUT, &fd, &size), LUTDB_EBADINPUT,
	       "not a regular file (a character device)");
	make_socket(at("sock"));
	EXPECT(lutdb_input_open(at("sock"), LUTDB_EINVAL, &fd, &size), LUTDB_EINVAL, "(a socket)");
	/* A link is followed: what counts is what it names. */
	ck_assert_int_eq(symlink("fifo", at("to-fifo")), 0);
	EXPECT(lutdb_input_open(at("to-fifo"), LUTDB_EINVAL, &fd, &size), LUTDB_EINVAL, "(a FIFO)");
	write_all(at("file"), "hello", 5);
	ck_assert_int_eq(symlink("file", at("to-file")), 0);
	ck_assert_int_eq(lutdb_input_open(at("to-file"), LUTDB_EINVAL, &fd, &size), LUTDB_OK);
	ck_assert_uint_eq(size, 5);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	EXPECT(lutdb_input_open(at("absent"), LUTDB_EINVAL, &fd, &size), LUTDB_ENOENT, "No such file");
	ck_assert_int_eq(symlink("absent", at("dangling")), 0);
	EXPECT(lutdb_input_open(at("dangling"), LUTDB_EINVAL, &fd, &size), LUTDB_ENOENT, "dangling");
}
END_TEST

START_TEST(input_read_stops_at_the_cap)
{
	char *d;
	size_t n;

	no_hang();
	write_all(at("ten"), "0123456789", 10);
	ck_assert_int_eq(lutdb_input_read(at("ten"), 10, 0, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 10);
	ck_assert_str_eq(d, "0123456789");
	lutdb_free(d);
	EXPECT(lutdb_input_read(at("ten"), 9, 0, LUTDB_EINVAL, LUTDB_ECORRUPT, &d, &n), LUTDB_ECORRUPT,
	       "10 bytes, over the 9");
	ck_assert_ptr_null(d);
	ck_assert_uint_eq(n, 0);
	write_all(at("empty"), "", 0);
	ck_assert_int_eq(lutdb_input_read(at("empty"), 9, 0, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(d, "");
	lutdb_free(d);
	/* "-" is a file name unless the caller says it is stdin. */
	EXPECT(lutdb_input_read("-", 9, 0, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n), LUTDB_ENOENT, "-");
	EXPECT(lutdb_input_read("/dev/zero", 1u << 30, LUTDB_INPUT_STDIN, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n),
	       LUTDB_EINVAL, "a character device");
	EXPECT(lutdb_input_read(at("ten"), 9, 0x80, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n), LUTDB_EINVAL, "flags");
}
END_TEST

/* Standard input may be a pipe or a device: it is read up to cap + 1 bytes,
 * never further, and never to its end first. */
START_TEST(stdin_is_read_no_further_than_the_cap)
{
	char buf[10000], *d;
	size_t n;
	int p[2];

	no_hang();
	memset(buf, 'x', sizeof buf);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], buf, sizeof buf), (ssize_t)sizeof buf);
	close(p[1]);
	ck_assert_int_eq(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	close(p[0]);
	EXPECT(lutdb_input_read("-", 1000, LUTDB_INPUT_STDIN, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n), LUTDB_ETOOBIG,
	       "standard input: more than 1000 bytes");
	ck_assert_int_eq(read(STDIN_FILENO, buf, sizeof buf), (ssize_t)(sizeof buf - 1001));

	/* /dev/zero never ends: refused after cap + 1 bytes (a 1 GiB cap would
	 * take seconds; 4 MiB takes none). */
	int z = open("/dev/zero", O_RDONLY);
	ck_assert_int_ge(z, 0);
	ck_assert_int_eq(dup2(z, STDIN_FILENO), STDIN_FILENO);
	close(z);
	EXPECT(lutdb_input_read("-", 4u << 20, LUTDB_INPUT_STDIN, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n), LUTDB_ETOOBIG,
	       "more than 4194304 bytes");

	/* A pipe left non-blocking by whoever made it is still read whole. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	close(p[0]);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		(void)!write(p[1], "late", 4);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(lutdb_input_read("-", 100, LUTDB_INPUT_STDIN, LUTDB_EINVAL, LUTDB_ETOOBIG, &d, &n), LUTDB_OK);
	ck_assert_str_eq(d, "late");
	lutdb_free(d);
	waitpid(pid, NULL, 0);
}
END_TEST

/* ---- outputs ----------------------------------------------------------------- */

START_TEST(output_check_says_what_may_be_replaced)
{
	ck_assert_int_eq(lutdb_output_check(at("absent"), 0), LUTDB_OK);
	ck_assert_int_eq(lutdb_output_check(at("absent"), 1), LUTDB_OK);
	ck_assert_int_eq(lutdb_output_check(at("nodir/x"), 0), LUTDB_OK); /* the create fails, with its own words */
	write_all(at("file"), "x", 1);
	ck_assert_int_eq(lutdb_output_check(at("file"), 0), LUTDB_OK);
	EXPECT(lutdb_output_check(at("file"), 1), LUTDB_EEXIST, "is a regular file, not a directory");
	ck_assert_int_eq(lutdb_output_check(dir, 1), LUTDB_OK);
	EXPECT(lutdb_output_check(dir, 0), LUTDB_EEXIST, "is a directory, not a regular file");
	make_fifo(at("fifo"));
	EXPECT(lutdb_output_check(at("fifo"), 0), LUTDB_EEXIST, "is a FIFO");
	make_socket(at("sock"));
	EXPECT(lutdb_output_check(at("sock"), 0), LUTDB_EEXIST, "is a socket");
	EXPECT(lutdb_output_check("/dev/null", 0), LUTDB_EEXIST, "is a character device");
	EXPECT(lutdb_output_check("/dev/null", 1), LUTDB_EEXIST, "is a character device");
	ck_assert_int_eq(symlink("file", at("link")), 0);
	EXPECT(lutdb_output_check(at("link"), 0), LUTDB_EINVAL, "is a symbolic link");
	ck_assert_int_eq(symlink(".", at("dirlink")), 0);
	EXPECT(lutdb_output_check(at("dirlink"), 1), LUTDB_EINVAL, "is a symbolic link");
	ck_assert_int_eq(symlink("absent", at("dangling")), 0);
	EXPECT(lutdb_output_check(at("dangling"), 0), LUTDB_EINVAL, "is a symbolic link");
	EXPECT(lutdb_output_check(NULL, 0), LUTDB_EINVAL, "no path");
}
END_TEST

/* Writers replace only a regular file: whatever else is at OUT is refused
 * before anything is written, and left as it was. */
START_TEST(writers_leave_what_is_not_a_regular_file)
{
	lutdb_db *db;
	char target[4096];

	no_hang();
	make_db(db_path);
	ck_assert_int_eq(lutdb_open(db_path, 0, &db), LUTDB_OK);
	make_fifo(at("fifo"));
	EXPECT(lutdb_merge(db, at("fifo"), NULL, NULL), LUTDB_EEXIST, "is a FIFO, not a regular file");
	ck_assert_int_eq(type_of(at("fifo")), S_IFIFO);
	make_socket(at("sock"));
	EXPECT(lutdb_merge(db, at("sock"), NULL, NULL), LUTDB_EEXIST, "is a socket");
	ck_assert_int_eq(type_of(at("sock")), S_IFSOCK);
	ck_assert_int_eq(mkdir(at("adir"), 0755), 0);
	EXPECT(lutdb_merge(db, at("adir"), NULL, NULL), LUTDB_EEXIST, "is a directory");
	ck_assert_int_eq(type_of(at("adir")), S_IFDIR);
	/* A link: neither written through (the target keeps its bytes) nor
	 * replaced (the link stays). */
	write_all(at("target"), "keep", 4);
	ck_assert_int_eq(symlink("target", at("link")), 0);
	EXPECT(lutdb_merge(db, at("link"), NULL, NULL), LUTDB_EINVAL, "is a symbolic link");
	ck_assert_int_eq(type_of(at("link")), S_IFLNK);
	ck_assert_int_eq(readlink(at("link"), target, sizeof target), 6);
	size_t n;
	char *keep = read_all(at("target"), &n);
	ck_assert_str_eq(keep, "keep");
	free(keep);
	/* Shards: OUTDIR may be absent or an empty directory, not a link to one. */
	lutdb_shard_opts so = {.size = sizeof so, .count = 2};
	ck_assert_int_eq(mkdir(at("empty"), 0755), 0);
	ck_assert_int_eq(symlink("empty", at("shardlink")), 0);
	EXPECT(lutdb_shard(db, at("shardlink"), &so, NULL, NULL), LUTDB_EINVAL, "is a symbolic link");
	EXPECT(lutdb_shard(db, at("shardlink/"), &so, NULL, NULL), LUTDB_EINVAL, "is a symbolic link");
	EXPECT(lutdb_shard(db, at("fifo"), &so, NULL, NULL), LUTDB_EEXIST, "is a FIFO, not a directory");
	ck_assert_int_eq(type_of(at("fifo")), S_IFIFO);
	ck_assert_int_eq(lutdb_shard(db, at("empty"), &so, NULL, NULL), LUTDB_OK);
	/* export: into a directory, never through a link. */
	EXPECT(lutdb_export(db, at("shardlink"), 0, NULL, NULL), LUTDB_EINVAL, "is a symbolic link");
	EXPECT(lutdb_export(db, at("fifo"), 0, NULL, NULL), LUTDB_EEXIST, "is a FIFO");
	/* pack, as the writer. */
	char src[4096];
	snprintf(src, sizeof src, "%s/mole_rep_f16/ckpt", fixtures_dir());
	EXPECT(lutdb_pack(src, at("fifo"), NULL), LUTDB_EEXIST, "is a FIFO");
	EXPECT(lutdb_pack(src, at("link"), NULL), LUTDB_EINVAL, "is a symbolic link");
	lutdb_close(db);
	/* No temporary file was left by any of them. */
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*')\"", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* What OUT is gets checked again just before the rename: a FIFO that
 * appears while the writer works is not replaced either. */
START_TEST(out_replaced_meanwhile_is_checked_at_commit)
{
	lutdb_db *src;
	lutdb_writer *w;
	const lutdb_info *in;

	make_db(db_path);
	ck_assert_int_eq(lutdb_open(db_path, 0, &src), LUTDB_OK);
	in = lutdb_get_info(src);
	lutdb_writer_params p = {.size = sizeof p, .family = in->family, .source_form = in->source_form,
				 .vocab = in->vocab, .hidden = in->hidden, .layers = in->layers,
				 .experts = in->experts, .intermediate = in->intermediate, .heads = in->heads,
				 .kv_heads = in->kv_heads, .tied = in->tied, .table_dtype = in->table_dtype};
	ck_assert_int_eq(lutdb_writer_open(at("out.lutdb"), &p, NULL, 1, &w), LUTDB_OK);
	make_fifo(at("out.lutdb"));
	for (size_t i = 0; i < lutdb_tensor_count(src); i++) {
		lutdb_tensor t;
		void *dst;
		ck_assert_int_eq(lutdb_tensor_at(src, i, &t), LUTDB_OK);
		ck_assert_int_eq(lutdb_writer_tensor_begin(w, t.name, t.dtype, t.ndim, t.shape, &dst), LUTDB_OK);
		memcpy(dst, t.data, t.nbytes);
		ck_assert_int_eq(lutdb_writer_tensor_end(w), LUTDB_OK);
	}
	const void *cfg;
	size_t len;
	ck_assert_int_eq(lutdb_blob_get(src, "config.json", &cfg, &len), LUTDB_OK);
	ck_assert_int_eq(lutdb_writer_put_blob(w, "config.json", cfg, len), LUTDB_OK);
	for (uint32_t t = 0; t < in->vocab; t++) {
		lutdb_row r;
		ck_assert_int_eq(lutdb_token_row(src, t, 0, NULL, 0, &r), LUTDB_OK);
		ck_assert_int_eq(lutdb_writer_put_rows(w, t, 1, r.data, 0), LUTDB_OK);
	}
	EXPECT(lutdb_writer_commit(w), LUTDB_EEXIST, "is a FIFO");
	ck_assert_int_eq(type_of(at("out.lutdb")), S_IFIFO);
	lutdb_close(src);
}
END_TEST

/* ---- readers ----------------------------------------------------------------- */

START_TEST(open_refuses_what_is_not_a_regular_file)
{
	lutdb_db *db = (lutdb_db *)1;

	no_hang();
	make_fifo(at("fifo.lutdb"));
	EXPECT(lutdb_open(at("fifo.lutdb"), 0, &db), LUTDB_EINVAL, "not a regular file (a FIFO)");
	ck_assert_ptr_null(db);
	EXPECT(lutdb_open("/dev/zero", 0, &db), LUTDB_EINVAL, "a character device");
	EXPECT(lutdb_open(dir, 0, &db), LUTDB_EINVAL, "a directory");
}
END_TEST

/* A shard the manifest names is a damaged shard set when it is not a
 * regular file (ESHARD, not the EINVAL of a path the user typed), and when
 * it is a link out of the manifest's directory. */
START_TEST(shards_must_be_regular_files_in_the_manifest_directory)
{
	lutdb_db *db;
	lutdb_shard_opts so = {.size = sizeof so, .count = 3};
	const char *sh2 = "model-00002-of-00003.lutdb";
	char moved[4096], out[4096];

	no_hang();
	make_db(db_path);
	ck_assert_int_eq(lutdb_open(db_path, 0, &db), LUTDB_OK);
	ck_assert_int_eq(lutdb_shard(db, at("set"), &so, NULL, NULL), LUTDB_OK);
	lutdb_close(db);
	snprintf(moved, sizeof moved, "%s/elsewhere.lutdb", dir);
	snprintf(out, sizeof out, "%s/set/%s", dir, sh2);

	/* A link to a file in the same directory is a shard like any other. */
	ck_assert_int_eq(rename(out, at("set/real.lutdb")), 0);
	ck_assert_int_eq(symlink("real.lutdb", out), 0);
	ck_assert_int_eq(lutdb_open(at("set/manifest.json"), 0, &db), LUTDB_OK);
	ck_assert_int_eq(lutdb_verify(db, NULL, NULL), LUTDB_OK);
	lutdb_close(db);

	/* The same file moved out of the directory, linked by absolute and by
	 * relative path. */
	ck_assert_int_eq(rename(at("set/real.lutdb"), moved), 0);
	ck_assert_int_eq(unlink(out), 0);
	ck_assert_int_eq(symlink(moved, out), 0);
	EXPECT(lutdb_open(at("set/manifest.json"), 0, &db), LUTDB_ESHARD, "outside the manifest's directory");
	ck_assert_ptr_null(db);
	ck_assert_int_eq(unlink(out), 0);
	ck_assert_int_eq(symlink("../elsewhere.lutdb", out), 0);
	EXPECT(lutdb_open(at("set/manifest.json"), 0, &db), LUTDB_ESHARD, "outside the manifest's directory");

	/* Not a regular file. */
	ck_assert_int_eq(unlink(out), 0);
	make_fifo(out);
	EXPECT(lutdb_open(at("set/manifest.json"), 0, &db), LUTDB_ESHARD, "not a regular file (a FIFO)");
	ck_assert_int_eq(unlink(out), 0);
	ck_assert_int_eq(mkdir(out, 0755), 0);
	EXPECT(lutdb_open(at("set/manifest.json"), 0, &db), LUTDB_ESHARD, "not a regular file (a directory)");
	ck_assert_int_eq(rmdir(out), 0);
	ck_assert_int_eq(symlink("/dev/null", out), 0);
	EXPECT(lutdb_open(at("set/manifest.json"), 0, &db), LUTDB_ESHARD, "a character device");

	/* Back in place: the set opens again. */
	ck_assert_int_eq(unlink(out), 0);
	ck_assert_int_eq(rename(moved, out), 0);
	ck_assert_int_eq(lutdb_open(at("set/manifest.json"), 0, &db), LUTDB_OK);
	lutdb_close(db);
}
END_TEST

/* The format says the map size equals the file size: bytes after the last
 * page, or a meta page saying otherwise, make the file damaged. */
START_TEST(trailing_bytes_are_damage)
{
	lutdb_db *db;
	size_t len;

	make_db(db_path);
	uint8_t *orig = read_all(db_path, &len);
	uint8_t *b = malloc(len + 1048576);
	memcpy(b, orig, len);
	memset(b + len, 0xA5, 1048576);
	write_all(db_path, b, len + 1048576);
	EXPECT(lutdb_open(db_path, 0, &db), LUTDB_ECORRUPT, "1048576 bytes follow the last page");
	write_all(db_path, b, len + 1);
	EXPECT(lutdb_open(db_path, 0, &db), LUTDB_ECORRUPT, "1 bytes follow the last page");
	/* A whole page more, and both meta pages' map sizes made to match. */
	memset(b + len, 0, 4096);
	uint64_t ms = len + 4096;
	memcpy(b + 32, &ms, 8);
	memcpy(b + 4096 + 32, &ms, 8);
	write_all(db_path, b, len + 4096);
	EXPECT(lutdb_open(db_path, 0, &db), LUTDB_ECORRUPT, "follow the last page");
	/* The right length, a wrong map size in either meta page. */
	for (int m = 0; m < 2; m++) {
		memcpy(b, orig, len);
		ms = len * 2;
		memcpy(b + m * 4096 + 32, &ms, 8);
		write_all(db_path, b, len);
		char want[64];
		snprintf(want, sizeof want, "meta page %d gives the map size", m);
		EXPECT(lutdb_open(db_path, 0, &db), LUTDB_ECORRUPT, want);
	}
	write_all(db_path, orig, len);
	ck_assert_int_eq(lutdb_open(db_path, 0, &db), LUTDB_OK);
	ck_assert_int_eq(lutdb_verify(db, NULL, NULL), LUTDB_OK);
	lutdb_close(db);
	free(b);
	free(orig);
}
END_TEST

/* ---- what the writers reserve ------------------------------------------------- */

/* The steps of files_reserve_what_they_hold, in a child process under the
 * file size limit limit; returns 0, or the step that failed (its detail
 * printed). */
static int write_under_limit(rlim_t limit)
{
	char src[4096];
	struct rlimit rl;
	lutdb_db *db = NULL;
	lutdb_shard_opts so = {.size = sizeof so, .count = 40};
	lutdb_pack_opts po = {.size = sizeof po, .threads = 1};
	int rc, step = 1;

	snprintf(src, sizeof src, "%s/mole_rep_f16/ckpt", fixtures_dir());
	if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 100;
	rl.rlim_cur = limit;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 100;
	/* The writers refuse a reservation above the limit up front, so
	 * SIGXFSZ never comes; each step must fit. */
	if ((rc = lutdb_pack(src, db_path, &po)) == LUTDB_OK && ++step &&
	    (rc = lutdb_open(db_path, 0, &db)) == LUTDB_OK && ++step &&
	    (rc = lutdb_shard(db, at("set"), &so, NULL, NULL)) == LUTDB_OK && ++step) {
		lutdb_close(db);
		db = NULL;
		if ((rc = lutdb_open(at("set/manifest.json"), 0, &db)) == LUTDB_OK && ++step &&
		    (rc = lutdb_merge(db, at("merged.lutdb"), NULL, NULL)) == LUTDB_OK && ++step) {
			po.shards = &so;
			rc = lutdb_pack(src, at("packed-set"), &po);
		}
	}
	lutdb_close(db);
	if (rc) {
		fprintf(stderr, "step %d: %s (%s)\n", step, lutdb_errdetail(), lutdb_strerror(rc));
		return step;
	}
	/* The limit is still a clean error where a file does need more. */
	rl.rlim_cur = 64u << 10;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 100;
	rc = lutdb_pack(src, at("small.lutdb"), NULL);
	if (rc != LUTDB_ENOSPC || !strstr(lutdb_errdetail(), "file size limit")) {
		fprintf(stderr, "64 KiB limit: %s (%s)\n", lutdb_errdetail(), lutdb_strerror(rc));
		return 99;
	}
	return 0;
}

/* Each file reserves (maps and preallocates) about what it will hold: under
 * a 2 MiB file size limit, a 0.5 MB database packs, shards into 40 files
 * and merges back.  Before, every file reserved 64 MiB more than its
 * estimate, so none of these could start (and 1500 shards of a 14 MB
 * database asked for 96 GB of disk). */
START_TEST(files_reserve_what_they_hold)
{
	int status;

	/* In a child: the limit must not outlive the test (suites also run
	 * without fork, under valgrind). */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(write_under_limit(2u << 20));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "under a 2 MiB file size limit: status 0x%x",
		      status);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("io");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, input_open_refuses_what_is_not_a_regular_file);
	tcase_add_test(tc, input_read_stops_at_the_cap);
	tcase_add_test(tc, stdin_is_read_no_further_than_the_cap);
	tcase_add_test(tc, output_check_says_what_may_be_replaced);
	tcase_add_test(tc, writers_leave_what_is_not_a_regular_file);
	tcase_add_test(tc, out_replaced_meanwhile_is_checked_at_commit);
	tcase_add_test(tc, open_refuses_what_is_not_a_regular_file);
	tcase_add_test(tc, shards_must_be_regular_files_in_the_manifest_directory);
	tcase_add_test(tc, trailing_bytes_are_damage);
	tcase_add_test(tc, files_reserve_what_they_hold);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
