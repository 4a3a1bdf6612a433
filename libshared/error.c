/* error.c: the one error table and its names. */
#include <string.h>

#include "ctk/common.h"

const char *ctk_strerror(int code)
{
    switch (code) {
    case CTK_OK:
        return "success";
#define CTK_ERRNO_MSG(name, msg)                                                                   \
    case CTK_##name:                                                                               \
        return msg;
        CTK_ERRNO_MAP(CTK_ERRNO_MSG)
#undef CTK_ERRNO_MSG
    default:
        break;
    }
    /* Negated errno values pass through so system errors keep their text. */
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

const char *ctk_err_name(int code)
{
    switch (code) {
#define CTK_ERRNO_NAME(name, msg)                                                                  \
    case CTK_##name:                                                                               \
        return #name;
        CTK_ERRNO_MAP(CTK_ERRNO_NAME)
#undef CTK_ERRNO_NAME
    default:
        return "UNKNOWN";
    }
}
