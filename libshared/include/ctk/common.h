/*
 * ctk/common.h: what every ctk header needs: the export macro and the one
 * table of error codes. Library functions return 0 or a negative CTK_E*
 * code; ctk_strerror() names it. Only tools turn codes into messages:
 * libctk never prints, exits, or signals the calling process.
 *
 * Out of memory, one policy: bookkeeping of a fixed size (a run, a queue,
 * a registry entry, a unit's record) is allocated with GLib, whose
 * g_malloc aborts when memory is exhausted, as its containers do anyway;
 * memory whose size comes from the input (a unit's bytes, a job's output,
 * a body, a block) goes through ctk_buf or another checked allocation, and
 * its failure is CTK_ENOMEM, returned, checked and turned into that unit's
 * error by the caller, never a crash and never a silent drop.
 */
#ifndef CTK_COMMON_H
#define CTK_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CTK_BUILDING_LIBRARY)
#define CTK_EXTERN __attribute__((visibility("default")))
#else
#define CTK_EXTERN
#endif

/* The single error table: name, message. Codes are negative. */
#define CTK_ERRNO_MAP(X)                                                                           \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENOMEM, "out of memory")                                                                     \
    X(ENOENT, "not found")                                                                         \
    X(EEXIST, "already exists")                                                                    \
    X(ERANGE, "value out of range")                                                                \
    X(EIO, "input/output error")                                                                   \
    X(EAGAIN, "nothing ready yet")                                                                 \
    X(EOF, "end of input")                                                                         \
    X(ECANCELED, "cancelled")                                                                      \
    X(ECHILD, "worker process died")                                                               \
    X(ESYS, "system call failed")                                                                  \
    X(ENOTPLUGIN, "not a loadable object")                                                         \
    X(ENOENTRY, "no ctk_plugin entry point")                                                       \
    X(EABI, "ABI version mismatch")                                                                \
    X(EPLUGININIT, "plugin initialisation failed")                                                 \
    X(EWORK, "work unit failed")                                                                   \
    X(EMISMATCH, "results differ between strategies")                                              \
    X(EDEADLOCK, "deadlock")

enum {
    CTK_OK = 0,
#define CTK_ERRNO_ENUM(name, msg) CTK_##name,
    CTK__ERRNO_FIRST = -1000,
    CTK_ERRNO_MAP(CTK_ERRNO_ENUM)
#undef CTK_ERRNO_ENUM
        CTK__ERRNO_END
};

/* A message for a CTK_E* code, or for a negated errno value. Never NULL. */
CTK_EXTERN const char *ctk_strerror(int code);
/* The short name ("EINVAL") for a code; "UNKNOWN" when it is none of ours. */
CTK_EXTERN const char *ctk_err_name(int code);

/* The version of the libctk a program runs with ("0.1.0"), which may be
 * newer than the one it was built against; --version prints both. */
CTK_EXTERN const char *ctk_version(void);

#ifdef __cplusplus
}
#endif
#endif
