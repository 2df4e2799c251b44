/*
 * The C DM application of `npm run bench:events`: answers every event of session argv[1] with
 * DM_RESP_CONTINUE through libdm (dm_get_events with DM_EV_WAIT, dm_respond_event), the loop an
 * HSM written in C runs. Prints "ready" once it waits; runs until killed. The node and run
 * directory come from DMAPIFS_NODE / DMAPIFS_RUN_DIR.
 */
#include <dmapi.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dm-responder SID\n");
    return 2;
  }
  char *version;
  if (dm_init_service(&version) != 0) {
    fprintf(stderr, "dm-responder: dm_init_service: %s\n", strerror(errno));
    return 1;
  }
  dm_sessid_t sid = (dm_sessid_t)atoi(argv[1]);
  static char buf[65536];
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    size_t rlen;
    if (dm_get_events(sid, 0, DM_EV_WAIT, sizeof buf, buf, &rlen) != 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "dm-responder: dm_get_events: %s\n", strerror(errno));
      return 1;
    }
    for (dm_eventmsg_t *m = (dm_eventmsg_t *)buf; m; m = DM_STEP_TO_NEXT(m, dm_eventmsg_t *)) {
      if (m->ev_token != DM_NO_TOKEN && dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL) != 0) {
        fprintf(stderr, "dm-responder: dm_respond_event: %s\n", strerror(errno));
        return 1;
      }
    }
  }
}
