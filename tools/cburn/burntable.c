/*
 * burntable.c: what a cburn table row says beyond the common columns
 * (checksum, lost additions, the shared total), and what must hold between
 * rows: every strategy computes the same checksum, and only share=shm may
 * lose additions. The notes under a table explain the rows that are
 * supposed to look wrong (shm, crossed locks).
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "burn.h"

enum { COL_CHECKSUM, COL_LOST, COL_SHARED };

const ctk_field *ctk_burn_table_fields(size_t *n)
{
    static const ctk_field extra[] = {
        {"checksum", CTK_FIELD_STRING}, {"lost", CTK_FIELD_NUMBER}, {"shared", CTK_FIELD_STRING}};
    *n = G_N_ELEMENTS(extra);
    return extra;
}

static char *hex(uint64_t v)
{
    return g_strdup_printf("%016llx", (unsigned long long)v);
}

void ctk_burn_fill_row(ctk_row *row, const ctk_burn_tally *tally, ctk_share share)
{
    row->units = tally->done;
    row->failed = tally->failed;
    row->work = (double)tally->iterations;
    row->extra[COL_CHECKSUM] = hex(tally->checksum);
    if (share != CTK_SHARE_NONE)
        row->extra[COL_SHARED] = hex(tally->shared);
    /* Failed tasks' additions that took effect are in the shared count but
     * not in the iterations, so the difference would mean nothing. */
    if (share != CTK_SHARE_NONE && tally->failed == 0)
        row->extra[COL_LOST] =
            g_strdup_printf("%llu", (unsigned long long)(tally->iterations - tally->shared_count));
}

char *ctk_burn_variant(int gil, ctk_share share)
{
    const char *sh = share != CTK_SHARE_NONE ? ctk_share_name(share) : NULL;
    if (gil && sh != NULL)
        return g_strdup_printf("gil,share=%s", sh);
    if (sh != NULL)
        return g_strdup_printf("share=%s", sh);
    return g_strdup(gil ? "gil" : "");
}

int ctk_burn_check_rows(const ctk_compare *table, const ctk_share *shares, int timed,
                        const char *prog, FILE *err)
{
    int bad = 0;
    const char *first = NULL;
    for (size_t i = 0; i < ctk_compare_count(table); i++) {
        const ctk_row *r = ctk_compare_row(table, i);
        bad |= r->failed > 0;
        /* A timed row does as much work as it had time for. */
        if (r->failed > 0 || timed)
            continue;
        if (first == NULL)
            first = r->extra[COL_CHECKSUM];
        else if (strcmp(first, r->extra[COL_CHECKSUM]) != 0 && !bad) {
            fprintf(err,
                    "%s: checksums differ between strategies (%s on %s, %s first): "
                    "a strategy lost or repeated work\n",
                    prog, r->extra[COL_CHECKSUM], r->strategy, first);
            bad = 1;
        }
        ctk_share share = shares[i];
        if (share != CTK_SHARE_NONE && share != CTK_SHARE_SHM &&
            (strcmp(r->extra[COL_LOST], "0") != 0 ||
             strcmp(r->extra[COL_SHARED], r->extra[COL_CHECKSUM]) != 0)) {
            fprintf(err, "%s: %s lost %s additions under --share=%s\n", prog, r->strategy,
                    r->extra[COL_LOST], ctk_share_name(share));
            bad = 1;
        }
    }
    return bad;
}

int ctk_burn_print_notes(const ctk_compare *table, const ctk_share *shares, FILE *out)
{
    for (size_t i = 0; i < ctk_compare_count(table); i++) {
        const ctk_row *r = ctk_compare_row(table, i);
        if (shares[i] == CTK_SHARE_CROSSED && r->failed > 0)
            fprintf(out,
                    "note: %s with share=crossed: %llu of %llu tasks deadlocked, each holding one "
                    "lock and waiting for the other's; cburn detects it, a real program would "
                    "hang. share=ordered takes the locks in one order and cannot deadlock.\n",
                    r->strategy, (unsigned long long)r->failed,
                    (unsigned long long)(r->units + r->failed));
        if (shares[i] != CTK_SHARE_SHM || r->work <= 0 || r->extra[COL_LOST] == NULL)
            continue;
        int wrong_total = strcmp(r->extra[COL_CHECKSUM], r->extra[COL_SHARED]) != 0;
        if (strcmp(r->extra[COL_LOST], "0") == 0 && !wrong_total)
            continue;
        double lost = g_ascii_strtod(r->extra[COL_LOST], NULL);
        fprintf(out,
                "note: %s with share=shm lost %.0f of %.0f additions (%.2f%%)%s: a read and a "
                "write without a lock let another worker's update slip in between.\n",
                r->strategy, lost, r->work, 100.0 * lost / r->work,
                wrong_total ? " and ended with a wrong total" : "");
    }
    return ferror(out) ? -1 : 0;
}
