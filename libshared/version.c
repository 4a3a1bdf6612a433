/*
 * version.c: what the running libctk is, as opposed to what a program was
 * compiled against: a packaged tool can run with a newer libctk.so.1.
 */
#include "ctk/common.h"
#include "ctk/plugin.h"

const char *ctk_version(void)
{
    return CTK_LIB_VERSION;
}

unsigned ctk_plugin_abi(void)
{
    return CTK_PLUGIN_ABI;
}
