/*
 * ctk/journal.h: a durable record of finished URLs (cfetch --journal), in
 * SQLite with write-ahead logging and a synchronous commit per URL, so that
 * whatever was recorded survives kill -9 or a power cut at any moment. A
 * rerun skips what succeeded and fetches the rest again.
 */
#ifndef CTK_JOURNAL_H
#define CTK_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/common.h"

typedef struct ctk_journal ctk_journal;

typedef struct ctk_journal_entry {
    long status;
    uint64_t bytes;
    char *path;       /* ctk_journal_entry_free releases it */
    int64_t mtime_ns; /* the file's when it was recorded; -1: not recorded */
} ctk_journal_entry;

/* Creates the file (mode 0600) when missing. A file that is not a cfetch
 * journal (another program's database, or no database) is refused and
 * left as it was: CTK_EINVAL or CTK_EIO, with a reason in err. */
int ctk_journal_open(ctk_journal **out, const char *path, char *err, size_t err_len);
void ctk_journal_close(ctk_journal *j);
/* 1 with *e filled when url succeeded in an earlier run, else 0. */
int ctk_journal_done(ctk_journal *j, const char *url, ctk_journal_entry *e);
void ctk_journal_entry_free(ctk_journal_entry *e);
/* 1 with *url set (g_free) when a URL that succeeded has its body at
 * path, else 0: a file another URL owns is not to be overwritten. */
int ctk_journal_owner(ctk_journal *j, const char *path, char **url);
/* Records a finished URL (the latest outcome wins), durably, before it
 * returns; mtime_ns is its file's modification time (-1: no file).
 * Thread-safe. */
int ctk_journal_record(ctk_journal *j, const char *url, int ok, long status, uint64_t bytes,
                       const char *path, int64_t mtime_ns, const char *error);

#endif
