/*
 * Messages: dlm_sperrno, dlm_perrno, dlm_perror.  The texts are the TypeScript API's
 * (src/dlm/status.ts; test/dlm-protocol.test.ts compares the two).  A number that is no status
 * gives "DLM_ILLEGAL_EEROR" [sic], as Tru64 spells it.
 */
#include "dlm_private.h"
#include <stdio.h>

static const struct {
	int status;
	const char *text;
} texts[] = {
	{ DLM_SUCCESS, "DLM_SUCCESS: normal successful completion" },
	{ DLM_SYNCH, "DLM_SYNCH: lock granted synchronously, no completion notification will follow" },
	{ DLM_SUCCVALNOTVALID, "DLM_SUCCVALNOTVALID: lock granted, but the value block is marked invalid" },
	{ DLM_SYNCVALNOTVALID, "DLM_SYNCVALNOTVALID: lock granted synchronously, but the value block is marked invalid" },
	{ DLM_MORE_TO_RECOVER, "DLM_MORE_TO_RECOVER: recovery domain has more resources to recover" },
	{ DLM_MORE_TO_TRAVERSE, "DLM_MORE_TO_TRAVERSE: recovery domain traversal is not complete" },
	{ DLM_ABORT, "DLM_ABORT: lock request was dequeued before it could be granted" },
	{ DLM_ATTACHED, "DLM_ATTACHED: already attached" },
	{ DLM_BADPARAM, "DLM_BADPARAM: bad parameter or illegal flags" },
	{ DLM_CANCEL, "DLM_CANCEL: conversion request was canceled" },
	{ DLM_CANCELGRANT, "DLM_CANCELGRANT: request was granted before it could be canceled" },
	{ DLM_CANCELWAIT, "DLM_CANCELWAIT: lock was never granted; cancel it with DLM_CANCELWAITOK" },
	{ DLM_CVTUNGRANT, "DLM_CVTUNGRANT: attempted to convert a lock that is not granted" },
	{ DLM_DEADLOCK, "DLM_DEADLOCK: request chosen as deadlock victim" },
	{ DLM_EFAULT, "DLM_EFAULT: bad address in a parameter" },
	{ DLM_ENOENT, "DLM_ENOENT: no such object" },
	{ DLM_ENOSYS, "DLM_ENOSYS: the DLM is not enabled" },
	{ DLM_HASLOCKS, "DLM_HASLOCKS: locks are still held" },
	{ DLM_INSFMEM, "DLM_INSFMEM: the DLM is out of memory" },
	{ DLM_INTR, "DLM_INTR: call interrupted" },
	{ DLM_IVBUFLEN, "DLM_IVBUFLEN: resource name length is illegal" },
	{ DLM_IVLOCKID, "DLM_IVLOCKID: bad lock id" },
	{ DLM_LKBUSY, "DLM_LKBUSY: lock has a request in progress" },
	{ DLM_NOACCESS, "DLM_NOACCESS: access denied" },
	{ DLM_NOLOCKID, "DLM_NOLOCKID: no lock id available" },
	{ DLM_NOTATTACHED, "DLM_NOTATTACHED: not attached" },
	{ DLM_NOTQUEUED, "DLM_NOTQUEUED: request not queued: it could not be granted at once and DLM_NOQUEUE was given" },
	{ DLM_PARNOTGRANT, "DLM_PARNOTGRANT: parent lock is not granted" },
	{ DLM_RETRY, "DLM_RETRY: retry the request" },
	{ DLM_SUBLOCKS, "DLM_SUBLOCKS: lock has sublocks" },
	{ DLM_TIMEOUT, "DLM_TIMEOUT: request timed out" },
	{ DLM_TOOMANYNS, "DLM_TOOMANYNS: too many namespaces" },
	{ DLM_UNEXPERR, "DLM_UNEXPERR: unexpected error" },
	{ DLM_HASPROCS, "DLM_HASPROCS: processes are still attached" },
	{ DLM_KILLFAIL, "DLM_KILLFAIL: an attached process could not be killed" },
	{ DLM_ATTACHEDGROUP, "DLM_ATTACHEDGROUP: attached to a group lock container of this namespace" },
	{ DLM_NO_GROUP, "DLM_NO_GROUP: not attached to a group lock container" },
	{ DLM_ENAMETOOLONG, "DLM_ENAMETOOLONG: name too long" },
	{ DLM_TOOMANYRD, "DLM_TOOMANYRD: too many recovery domains" },
	{ DLM_IS_PR, "DLM_IS_PR: locking a persistent resource as non-persistent" },
	{ DLM_NOT_PR, "DLM_NOT_PR: locking a non-persistent resource as persistent" },
	{ DLM_IVRDID, "DLM_IVRDID: invalid recovery domain id" },
	{ DLM_PR_RD_MISMATCH, "DLM_PR_RD_MISMATCH: persistent resource belongs to another recovery domain" },
	{ DLM_IVHNDL, "DLM_IVHNDL: invalid collection handle" },
	{ DLM_EALREADY, "DLM_EALREADY: a collection is already in progress for this handle" },
	{ DLM_EINPROGRESS, "DLM_EINPROGRESS: recovery of this domain is in progress elsewhere" },
	{ DLM_PUBNS_DISALLOW, "DLM_PUBNS_DISALLOW: public namespace disallowed" },
};

#define ILLEGAL "DLM_ILLEGAL_EEROR: illegal DLM error status"

char *dlm_sperrno(dlm_status_t stat)
{
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (texts[i].status == (int)stat) return (char *)texts[i].text;
	return (char *)ILLEGAL;
}

void dlm_perrno(dlm_status_t stat) { fprintf(stderr, "%s\n", dlm_sperrno(stat)); }

void dlm_perror(char *s, dlm_status_t stat)
{
	if (s && *s) fprintf(stderr, "%s: %s\n", s, dlm_sperrno(stat));
	else fprintf(stderr, "%s\n", dlm_sperrno(stat));
}
