/*
 * The seed, dlm_glc_destroy(3), walked through from a C program:
 *   "Normally, the container to be destroyed must have no processes attached to it and contain no
 *   locks. However, you can use the DLM_GLC_LOCKS or DLM_GLC_FORCE flag to destroy a container that
 *   is in use."  DLM_GLC_LOCKS: destroy "a group lock container that currently holds locks if no
 *   processes are attached to it".  DLM_GLC_FORCE: "All processes in the process lock group are
 *   killed and all group locks are released. (If this results in the release of the last lock on a
 *   persistent resource, the resource itself may survive ...) Finally, any recovery domain IDs any
 *   process may have obtained ... on behalf of the process lock group are destroyed."
 * and every status the page lists, in the order the DLM checks them: DLM_ENOSYS (argv[1] =
 * "nodaemon"), DLM_BADPARAM, DLM_NOTATTACHED, DLM_ENOENT, DLM_NOACCESS, DLM_HASPROCS, DLM_HASLOCKS,
 * DLM_KILLFAIL, DLM_SUCCESS.
 */
#include "dlmcheck.h"
#include <sys/syscall.h>

static dlm_glc_id_t gid;

/* a member: joins, attaches, takes a group lock on `res` (EX), reports, waits */
static int member(struct kid *k, void *arg)
{
	const char *res = arg;
	dlm_nsp_t nsp = join();
	ST(dlm_glc_attach(gid, 0), DLM_SUCCESS);
	dlm_lkid_t lk;
	if (res) ST(dlm_lock(nsp, RES(res), NULL, &lk, DLM_EXMODE, NULL, DLM_GROUP_LOCK, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'a');
	for (;;) pause();
}

/* a member that leaves behind a process the DLM cannot kill: it hands its connection to a child made
 * without fork() (no atfork handler runs, the child keeps the socket) and exits; until the node sees
 * the pid gone (it checks every second), the container has a member whose process cannot be killed */
static int ghost(struct kid *k, void *arg)
{
	(void)arg;
	join();
	ST(dlm_glc_attach(gid, 0), DLM_SUCCESS);
	pid_t test = getppid();
	long c = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (c == 0) {
		/* killed by the test; never outlives it (nor 60 s) */
		for (int i = 0; i < 600 && kill(test, 0) == 0; i++) {
			struct timespec ts = { 0, 100000000L };
			nanosleep(&ts, NULL);
		}
		_exit(0);
	}
	char msg[16];
	int n = snprintf(msg, sizeof msg, "%ld\n", c);
	if (write(k->from[1], msg, (size_t)n) != n) _exit(2);
	_exit(0);
}

/* somebody with no right to the container: another user in a namespace of its own */
static int stranger(struct kid *k, void *arg)
{
	(void)k; (void)arg;
	if (setgid(65534) < 0 || setuid(65534) < 0) return 2;
	dlm_nsp_t nsp;
	ST(dlm_nsjoin(65534, &nsp, DLM_USER), DLM_SUCCESS);
	ST(dlm_glc_destroy(gid, 0), DLM_NOACCESS);
	return 0;
}

/* not attached to the DLM at all */
static int nobody(struct kid *k, void *arg)
{
	(void)k; (void)arg;
	ST(dlm_glc_destroy(gid, 0x100), DLM_BADPARAM); /* flags are judged first */
	ST(dlm_glc_destroy(gid, 0), DLM_NOTATTACHED);
	return 0;
}

static int waiter(struct kid *k, void *arg)
{
	const char *res = arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t lk;
	KID_SAY(k, 'w');
	ST(dlm_lock(nsp, RES(res), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'g');
	KID_HEAR(k);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "nodaemon") == 0) {
		/* DLM_ENOSYS: "The DLM is not enabled." */
		ST(dlm_glc_destroy(1, 0), DLM_ENOSYS);
		ST(dlm_glc_destroy(1, DLM_GLC_FORCE), DLM_ENOSYS);
		DONE_OK();
	}
	dlm_nsp_t nsp = join();
	dlm_rsbinfo_t ri;
	ST(dlm_glc_create(&gid, DLM_GLC_PERM, &nsp, 1), DLM_SUCCESS);

	/* DLM_BADPARAM: "Illegal flags were specified." */
	ST(dlm_glc_destroy(gid, 0x100), DLM_BADPARAM);
	ST(dlm_glc_destroy(gid, DLM_GLC_OWNED), DLM_BADPARAM);
	/* DLM_NOTATTACHED: "not attached to either the DLM or to the group lock container" */
	struct kid k = spawn(nobody, NULL);
	EQ(reap(k), 0);
	/* DLM_ENOENT: "The specified group lock container does not exist." */
	ST(dlm_glc_destroy(gid + 1000, 0), DLM_ENOENT);
	/* DLM_NOACCESS: neither root, nor the creator, nor in one of its namespaces */
	k = spawn(stranger, NULL);
	EQ(reap(k), 0);
	/* DLM_HASPROCS: processes attached (the creator itself, and a member) */
	struct kid m = spawn(member, (void *)"L");
	CHECK(HEAR(m) == 'a', "member");
	ST(dlm_glc_destroy(gid, 0), DLM_HASPROCS);
	ST(dlm_glc_destroy(gid, DLM_GLC_LOCKS), DLM_HASPROCS); /* LOCKS needs "no processes attached" */
	/* the member exits: its group lock stays with the container; the creator detaches */
	kill(m.pid, SIGKILL);
	EQ(reap(m), 128 + SIGKILL);
	msleep(100);
	ST(dlm_glc_detach(), DLM_SUCCESS);
	/* DLM_HASLOCKS: "contains locks and the DLM_GLC_LOCKS flag was not specified" */
	ST(dlm_glc_destroy(gid, 0), DLM_HASLOCKS);
	ST(dlm_get_rsbinfo(nsp, RES("L"), &ri, NULL), DLM_SUCCESS);
	EQ(ri.lckcnt, 1);
	/* DLM_GLC_LOCKS: destroyed with its locks; the lock is released */
	ST(dlm_glc_destroy(gid, DLM_GLC_LOCKS), DLM_SUCCESS);
	ST(dlm_get_rsbinfo(nsp, RES("L"), &ri, NULL), DLM_ENOENT);
	ST(dlm_glc_attach(gid, 0), DLM_ENOENT);

	/* DLM_KILLFAIL: "A process attached to the group lock container could not be killed. Some
	 * processes may have been killed but no group locks have been released." */
	int killfail = 0;
	for (int attempt = 0; attempt < 3 && !killfail; attempt++) {
		ST(dlm_glc_create(&gid, DLM_GLC_PERM, &nsp, 1), DLM_SUCCESS);
		dlm_lkid_t gl;
		ST(dlm_lock(nsp, RES("K"), NULL, &gl, DLM_EXMODE, NULL, DLM_GROUP_LOCK, 0, 0, NULL, 0), DLM_SUCCESS);
		struct kid g = spawn(ghost, NULL);
		char line[32] = "";
		ssize_t n = read(g.from[0], line, sizeof line - 1);
		line[n > 0 ? n : 0] = 0;
		pid_t left = (pid_t)atol(line);
		EQ(reap(g), 0);
		dlm_status_t st = dlm_glc_destroy(gid, DLM_GLC_FORCE);
		if (st == DLM_KILLFAIL) {
			killfail = 1;
			ST(dlm_get_rsbinfo(nsp, RES("K"), &ri, NULL), DLM_SUCCESS);
			EQ(ri.lckcnt, 1); /* no group lock released */
			ST(dlm_glc_attach(gid, 0), DLM_ATTACHED); /* the container is still there, and we in it */
		} else {
			ST(st, DLM_SUCCESS); /* the node noticed the dead pid first: try again */
		}
		kill(left, SIGKILL);
		waitpid(left, NULL, 0);
		msleep(1500); /* the node drops the ghost's connection */
		if (killfail) ST(dlm_glc_destroy(gid, DLM_GLC_FORCE), DLM_SUCCESS);
		ST(dlm_get_rsbinfo(nsp, RES("K"), &ri, NULL), DLM_ENOENT);
	}
	CHECK(killfail, "DLM_KILLFAIL never seen");

	/* DLM_GLC_FORCE: members killed, group locks released, the group's recovery domain ids
	 * destroyed, a persistent resource surviving the release of its last lock */
	ST(dlm_glc_create(&gid, DLM_GLC_PERM, &nsp, 1), DLM_SUCCESS);
	dlm_rd_id_t grd;
	ST(dlm_rd_attach((char *)"seed", &grd, DLM_RD_GROUP), DLM_SUCCESS);
	dlm_lkid_t pl;
	dlm_valb_t v;
	valb_fill(&v, 900);
	ST(dlm_locktp(nsp, RES("PERS"), NULL, &pl, DLM_EXMODE, &v, DLM_GROUP_LOCK | DLM_PERSIST, 0, 0, NULL, 0, 0, grd),
	   DLM_SUCCESS);
	ST(dlm_cvt(&pl, DLM_EXMODE, &v, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	struct kid m1 = spawn(member, (void *)"F1");
	struct kid m2 = spawn(member, NULL);
	CHECK(HEAR(m1) == 'a' && HEAR(m2) == 'a', "members");
	struct kid w = spawn(waiter, (void *)"F1");
	CHECK(HEAR(w) == 'w', "waiter");
	msleep(200);
	ST(dlm_glc_destroy(gid, DLM_GLC_FORCE), DLM_SUCCESS);
	EQ(reap(m1), 128 + SIGKILL); /* "All processes in the process lock group are killed" */
	EQ(reap(m2), 128 + SIGKILL);
	CHECK(HEAR(w) == 'g', "the waiter was not granted: the group lock was not released");
	TELL(w, 'x');
	EQ(reap(w), 0);
	ST(dlm_glc_attach(gid, 0), DLM_ENOENT);
	/* "any recovery domain IDs ... on behalf of the process lock group are destroyed" */
	dlm_rd_collection_hndl_t col = NULL;
	ST(dlm_rd_collect(grd, &col, 0), DLM_IVRDID);
	ST(dlm_rd_detach(grd, 0), DLM_IVRDID);
	/* "the resource itself may survive": no lock, its value block kept and marked invalid */
	ST(dlm_get_rsbinfo(nsp, RES("PERS"), &ri, NULL), DLM_SUCCESS);
	EQ(ri.lckcnt, 0);
	EQ(ri.vbstatus, DLM_SUCCVALNOTVALID);
	CHECK(memcmp(&ri.valb, &v, sizeof v) == 0, "the surviving block");
	/* and a process of the domain collects it */
	dlm_rd_id_t prd;
	ST(dlm_rd_attach((char *)"seed", &prd, DLM_RD_PROCESS), DLM_SUCCESS);
	ST(dlm_rd_collect(prd, &col, 0), DLM_SUCCESS);
	EQ(col->count, 1);
	CHECK(col->resources[0].resnlen == 4 && memcmp(col->resources[0].resnam, "PERS", 4) == 0, "collected");
	ST(dlm_rd_validate(prd, &col, 0), DLM_SUCCESS);
	ST(dlm_rd_detach(prd, 0), DLM_SUCCESS);
	ST(dlm_get_rsbinfo(nsp, RES("PERS"), &ri, NULL), DLM_ENOENT);
	DONE_OK();
}
