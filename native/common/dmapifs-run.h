/*
 * Where a node daemon's sockets are, for the C libraries (libdm, libdlm): <run>/<node>/<file>, with
 * run = $DMAPIFS_RUN_DIR or /run/dmapifs and node = $DMAPIFS_NODE or the host name as the daemon
 * derives it (src/daemon/paths.ts: characters outside [A-Za-z0-9._-] become '-', leading
 * non-alphanumerics go, at most 63 characters, "localhost" when nothing is left).
 */
#ifndef DMAPIFS_RUN_H
#define DMAPIFS_RUN_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int dmapifs_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static inline void dmapifs_node_name(char *out, size_t cap)
{
	const char *env = getenv("DMAPIFS_NODE");
	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return;
	}
	char h[256] = "";
	gethostname(h, sizeof h - 1);
	char *s = h;
	for (char *p = h; *p; p++)
		if (!dmapifs_alnum(*p) && *p != '.' && *p != '_' && *p != '-') *p = '-';
	while (*s && !dmapifs_alnum(*s)) s++;
	if (strlen(s) > 63) s[63] = 0;
	snprintf(out, cap, "%s", *s ? s : "localhost");
}

/* The path of `file` in this node's directory; -1 when it does not fit in `cap`. */
static inline int dmapifs_socket_path(char *out, size_t cap, const char *file)
{
	char node[128];
	const char *run = getenv("DMAPIFS_RUN_DIR");
	dmapifs_node_name(node, sizeof node);
	int n = snprintf(out, cap, "%s/%s/%s", run && *run ? run : "/run/dmapifs", node, file);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}
#endif
