/* Group lock containers: dlm_glc_create (DLM_GLC_PERM / DLM_GLC_OWNED), dlm_glc_attach, group
 * locks (DLM_GROUP_LOCK) manipulated by another member and kept after a member's exit,
 * dlm_glc_detach, the last member out of a non-PERM container, dlm_nsleave while attached. */
#include "dlmcheck.h"

/* attaches to the container, converts and unlocks the group lock the parent took */
struct gl { dlm_glc_id_t id; dlm_lkid_t lk; };
static int member(struct kid *k, void *arg)
{
	struct gl *g = arg;
	join();
	ST(dlm_glc_attach(g->id, 0), DLM_SUCCESS);
	ST(dlm_glc_attach(g->id, 0), DLM_ATTACHED);
	ST(dlm_cvt(&g->lk, DLM_PRMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'c');
	KID_HEAR(k);
	return 0; /* exits attached: its group locks stay with the container */
}

static int outsider(struct kid *k, void *arg)
{
	struct gl *g = arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t lk;
	ST(dlm_cvt(&g->lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_IVLOCKID); /* not its lock */
	ST(dlm_lock(nsp, RES("G"), NULL, &lk, DLM_EXMODE, NULL, DLM_NOQUEUE, 0, 0, NULL, 0), DLM_NOTQUEUED);
	KID_SAY(k, 'w');
	ST(dlm_lock(nsp, RES("G"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'g');
	KID_HEAR(k);
	return 0;
}

int main(void)
{
	dlm_nsp_t nsp = join();
	struct gl g;
	ST(dlm_glc_create(&g.id, DLM_GLC_OWNED | DLM_GLC_PERM, &nsp, 1), DLM_BADPARAM);
	ST(dlm_glc_attach(999999, 0), DLM_ENOENT);
	ST(dlm_glc_detach(), DLM_NOTATTACHED);
	ST(dlm_glc_create(&g.id, 0, &nsp, 1), DLM_SUCCESS);
	ST(dlm_glc_create(&g.id, 0, &nsp, 1), DLM_ATTACHED); /* one container at a time */
	ST(dlm_nsleave(&nsp, 0), DLM_ATTACHEDGROUP);
	ST(dlm_lock(nsp, RES("G"), NULL, &g.lk, DLM_EXMODE, NULL, DLM_GROUP_LOCK, 0, 0, NULL, 0), DLM_SUCCESS);
	/* another member converts the group lock; it then exits, the lock stays */
	struct kid m = spawn(member, &g);
	CHECK(HEAR(m) == 'c', "member");
	dlm_lkinfo_t li;
	ST(dlm_get_lkinfo(&g.lk, &li), DLM_SUCCESS);
	EQ(li.grmode, DLM_PRMODE);
	TELL(m, 'x');
	EQ(reap(m), 0);
	ST(dlm_get_lkinfo(&g.lk, &li), DLM_SUCCESS);
	EQ(li.grmode, DLM_PRMODE);
	ST(dlm_cvt(&g.lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	/* a process outside the container waits for it */
	struct kid o = spawn(outsider, &g);
	CHECK(HEAR(o) == 'w', "outsider");
	msleep(200);
	/* the last member detaches from a non-PERM container: destroyed, its locks released */
	ST(dlm_glc_detach(), DLM_SUCCESS);
	CHECK(HEAR(o) == 'g', "the outsider was not granted when the container went");
	TELL(o, 'x');
	EQ(reap(o), 0);
	ST(dlm_glc_attach(g.id, 0), DLM_ENOENT);
	/* a PERM container outlives its last member */
	ST(dlm_glc_create(&g.id, DLM_GLC_PERM, &nsp, 1), DLM_SUCCESS);
	ST(dlm_glc_detach(), DLM_SUCCESS);
	ST(dlm_glc_attach(g.id, 0), DLM_SUCCESS);
	ST(dlm_glc_detach(), DLM_SUCCESS);
	ST(dlm_glc_destroy(g.id, 0), DLM_SUCCESS);
	ST(dlm_nsleave(&nsp, 0), DLM_SUCCESS);
	DONE_OK();
}
