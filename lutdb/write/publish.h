/*
 * publish.h - putting a finished file or directory at its published name
 * (library-internal).
 *
 * Writers build their output under a private temporary name beside the
 * final one and rename it into place only when it is complete and synced.
 * "Never overwrite OUT" must hold at that rename, not at an earlier check:
 * whatever appeared at OUT in between is kept.
 */
#ifndef LUTDB_PUBLISH_H
#define LUTDB_PUBLISH_H

/* Renames tmp to final.  With replace, an existing regular file at final
 * is replaced atomically (rename(2)); anything else there (a device, a
 * directory, a symbolic link) is refused as lutdb_output_check() says,
 * right before the rename.  Without, final must not exist when the
 * rename happens: renameat2(RENAME_NOREPLACE), or, on a file system without
 * it, link(2) + unlink(2) for a file; for a directory, plain rename(2),
 * which refuses a non-empty directory or a file at final (only an empty
 * directory could be replaced, which loses nothing).  A file system with
 * neither (no hard links either) gets a check then a rename.  LUTDB_EEXIST,
 * naming final, when final exists; tmp is left for the caller to remove on
 * any failure. */
int lutdb_publish(const char *tmp, const char *final, int is_dir, int replace);

/* Creates a new file (is_dir 0: open(O_RDWR | O_CREAT | O_EXCL), mode 0666,
 * its descriptor in *fd) or directory (mode 0777) at templ, whose last six
 * characters "XXXXXX" are replaced by random ones, retried on a clash.  The
 * kernel applies the umask, so the library never changes or even reads the
 * process's umask (umask(2) is process-wide and races with other threads).
 * errno-based failures name templ. */
int lutdb_tmp_create(char *templ, int is_dir, int *fd);

/* Syncs the directory holding path (its parent), so a rename in it is
 * durable. */
int lutdb_sync_parent(const char *path);

#endif /* LUTDB_PUBLISH_H */
