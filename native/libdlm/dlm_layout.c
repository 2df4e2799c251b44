/*
 * Compile-time checks of the structures the protocol fills (docs/dlm-protocol.md, "Field types"):
 * a value block is the 32 bytes the wire carries, a lock id holds the wire's u32 hndl and its
 * integer seqn, names fit the wire's u8 lengths, and the layouts of <sys/dlm.h> are fixed on LP64.
 */
#include "dlm_private.h"

_Static_assert(sizeof(dlm_valb_t) == DLM_VALB_BYTES, "a value block is 32 bytes on the wire");
_Static_assert(DLM_VALBLKSIZE * 4 == DLM_VALB_BYTES, "DLM_VALBLKSIZE counts longwords");
_Static_assert(DLM_RESNAMELEN <= 255 && DLM_RDNAMELEN <= 255, "names travel with a u8 length");
_Static_assert(sizeof(((dlm_lkid_t *)0)->hndl) == 4, "lkid.hndl is the wire's u32");
_Static_assert(sizeof(((dlm_lkid_t *)0)->seqn) == 8, "lkid.seqn holds the wire's 53-bit integer");
_Static_assert(sizeof(dlm_lkid_t) == 16, "dlm_lkid_t layout");
_Static_assert(sizeof(dlm_status_t) == 4 && sizeof(dlm_lkmode_t) == 4, "enums are ints");
_Static_assert(sizeof(callback_arg_t) == sizeof(void *), "callback_arg_t carries a pointer");
#if defined(__LP64__)
_Static_assert(__builtin_offsetof(dlm_lkinfo_t, resnlen) == 64, "dlm_lkinfo_t.resnlen");
_Static_assert(__builtin_offsetof(dlm_lkinfo_t, parlkid) == 72, "dlm_lkinfo_t.parlkid");
_Static_assert(__builtin_offsetof(dlm_lkinfo_t, valb) == 96, "dlm_lkinfo_t.valb");
_Static_assert(__builtin_offsetof(dlm_lkinfo_t, lk_pid) == 164, "dlm_lkinfo_t.lk_pid");
_Static_assert(sizeof(dlm_lkinfo_t) == 168, "dlm_lkinfo_t layout");
_Static_assert(__builtin_offsetof(dlm_rsbinfo_t, valb) == 36, "dlm_rsbinfo_t.valb");
_Static_assert(sizeof(dlm_rsbinfo_t) == 68, "dlm_rsbinfo_t layout");
_Static_assert(__builtin_offsetof(dlm_rd_resource_t, valb) == 72, "dlm_rd_resource_t.valb");
_Static_assert(sizeof(dlm_rd_resource_t) == 104, "dlm_rd_resource_t layout");
#endif
