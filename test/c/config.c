/* Config: dm_get_config for every flag, unknown flag EINVAL, dm_get_config_events with E2BIG. */
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: config MNT");
	char *v;
	OK(dm_init_service(&v));
	void *fsh;
	size_t fshl;
	OK(dm_path_to_fshandle(argv[1], &fsh, &fshl));
	static const struct { dm_config_t f; dm_size_t v; } want[] = {
		{ DM_CONFIG_BULKALL, 1 }, { DM_CONFIG_CREATE_BY_HANDLE, 0 }, { DM_CONFIG_DTIME_OVERLOAD, 1 },
		{ DM_CONFIG_LEGACY, 1 }, { DM_CONFIG_LOCK_UPGRADE, 1 }, { DM_CONFIG_MAX_ATTR_ON_DESTROY, 1022 },
		{ DM_CONFIG_MAX_ATTRIBUTE_SIZE, 1022 }, { DM_CONFIG_MAX_HANDLE_SIZE, 24 },
		{ DM_CONFIG_MAX_MANAGED_REGIONS, 32 }, { DM_CONFIG_MAX_MESSAGE_DATA, 4096 }, { DM_CONFIG_OBJ_REF, 1 },
		{ DM_CONFIG_PENDING, 1 }, { DM_CONFIG_PERS_ATTRIBUTES, 1 }, { DM_CONFIG_PERS_EVENTS, 1 },
		{ DM_CONFIG_PERS_INHERIT_ATTRIBS, 0 }, { DM_CONFIG_PERS_MANAGED_REGIONS, 1 }, { DM_CONFIG_PUNCH_HOLE, 1 },
		{ DM_CONFIG_TOTAL_ATTRIBUTE_SPACE, 7168 }, { DM_CONFIG_WILL_RETRY, 0 },
	};
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
		dm_size_t val = 12345;
		OK(dm_get_config(fsh, fshl, want[i].f, &val));
		CHECK(val == want[i].v, "config %d = %llu, expected %llu", want[i].f, (unsigned long long)val,
			(unsigned long long)want[i].v);
	}
	dm_size_t val;
	ERR(dm_get_config(fsh, fshl, DM_CONFIG_INVALID, &val), EINVAL);
	ERR(dm_get_config(fsh, fshl, (dm_config_t)99, &val), EINVAL);
	ERR(dm_get_config(fsh, fshl, DM_CONFIG_LEGACY, NULL), EFAULT);

	dm_eventset_t set = 0;
	unsigned int n = 0;
	OK(dm_get_config_events(fsh, fshl, DM_EVENT_MAX, &set, &n));
	EQ(n, DM_EVENT_MAX);
	for (int e = 0; e < DM_EVENT_MAX; e++) {
		int want_set = e != DM_EVENT_CANCEL && e != DM_EVENT_DEBUT;
		CHECK(DMEV_ISSET(e, set) == want_set, "event %d supported=%d", e, DMEV_ISSET(e, set));
	}
	n = 0;
	ERR(dm_get_config_events(fsh, fshl, 5, &set, &n), E2BIG);
	EQ(n, DM_EVENT_MAX);
	dm_handle_free(fsh, fshl);
	DONE_OK();
}
