/*
 * ctkx/guard.h: no job outlives a kill -9 of the tool that started it.
 *
 * PR_SET_PDEATHSIG (set by spawn in each job's first process) reaches
 * only that process: a shell job's children (`sleep 30; echo`) live on in
 * the job's process group when cpar or cpipe is killed with SIGKILL,
 * which no handler of ours sees (issue 13, #15).
 *
 * Why a guard process: a child subreaper only adopts orphans while the
 * tool lives; cgroups are not ours to create everywhere; a helper per job
 * would double the processes started. Instead one small process per run,
 * forked from the tool, holds the reading end of a socket whose writing
 * end only the tool and the processes it forks without exec (a forking
 * strategy's workers, --compare's rows) hold. spawn tells it each job's
 * process group as the job starts and again before the job's leader is
 * reaped (while the leader or a member lives, the group id cannot be
 * reused). When every writer is gone, however they ended, the socket
 * reads end-of-file and the guard SIGKILLs every group still told as
 * running, then exits. After a normal exit there are none.
 */
#ifndef CTK_GUARD_H
#define CTK_GUARD_H

#include <sys/types.h>

/* Starts this run's guard, once per process tree: a process forked from
 * one that started it uses that one. 0, or a negative code (no guard:
 * the jobs' leaders still die with us by PDEATHSIG). Any thread; the
 * guard itself makes only system calls. */
int ctk_guard_start(void);
/* Tells the guard (if any) that process group pgid is running (running
 * 1) or no longer ours to end (0). Never blocks for long, never raises
 * SIGPIPE. */
void ctk_guard_note(pid_t pgid, int running);

#endif
