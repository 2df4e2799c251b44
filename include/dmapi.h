/*
 * dmapi.h - the XDSM DMAPI for dmapifs, in SGI's Linux layout (int session ids and tokens,
 * SGI event numbering and DM_AT_* values, x86-64 structure layouts).  Written for dmapifs from
 * SGI's published ABI; libdm (native/libdm) speaks to the node daemon's dmapi.sock.  See
 * docs/c-api.md, docs/dmapi-protocol.md and dmapi(3).
 */
#ifndef _DMAPIFS_DMAPI_H
#define _DMAPIFS_DMAPI_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scalar types */
typedef int            dm_sessid_t;
typedef int            dm_token_t;
typedef unsigned int   dm_sequence_t;
typedef uint64_t       dm_eventset_t;
typedef uint64_t       dm_fsid_t;
typedef uint64_t       dm_ino_t;
typedef uint32_t       dm_igen_t;
typedef int64_t        dm_off_t;
typedef uint64_t       dm_size_t;
typedef int64_t        dm_ssize_t;
typedef int64_t        dm_attrloc_t;
typedef unsigned int   dm_boolean_t;
typedef char           dm_fstype_t[16];

#define DM_TRUE   1
#define DM_FALSE  0

#define DM_NO_SESSION     0
#define DM_NO_TOKEN       (-1)
#define DM_INVALID_TOKEN  0

#define DM_GLOBAL_HANP    ((void *)1)
#define DM_GLOBAL_HLEN    ((size_t)1)
#define DM_INVALID_HANP   ((void *)0)
#define DM_INVALID_HLEN   ((size_t)0)

#define DM_SESSION_INFO_LEN  256
#define DM_ATTR_NAME_SIZE    8
#define DM_MAX_HANDLE_SIZE   56
#define DM_VER_STR_CONTENTS  "dmapifs DMAPI (XDSM, GPFS semantics) 1.0"

/* ENOTREADY (GPFS: daemon down or initialising) has no Linux errno; dmapifs uses 198. strerror(198)
 * knows no text for it: dm_strerror() gives one for every errno (see dmapi(3)). */
#ifndef ENOTREADY
#define ENOTREADY 198
#endif
/* A message for an errno a DMAPI call set: strerror()'s, and for ENOTREADY the DMAPI's own. */
extern const char *dm_strerror(int errnum);

/* ---- events (SGI numbering) */
typedef enum {
	DM_EVENT_INVALID     = -1,
	DM_EVENT_CANCEL      = 0,
	DM_EVENT_MOUNT       = 1,
	DM_EVENT_PREUNMOUNT  = 2,
	DM_EVENT_UNMOUNT     = 3,
	DM_EVENT_DEBUT       = 4,
	DM_EVENT_CREATE      = 5,
	DM_EVENT_CLOSE       = 6,
	DM_EVENT_POSTCREATE  = 7,
	DM_EVENT_REMOVE      = 8,
	DM_EVENT_POSTREMOVE  = 9,
	DM_EVENT_RENAME      = 10,
	DM_EVENT_POSTRENAME  = 11,
	DM_EVENT_LINK        = 12,
	DM_EVENT_POSTLINK    = 13,
	DM_EVENT_SYMLINK     = 14,
	DM_EVENT_POSTSYMLINK = 15,
	DM_EVENT_READ        = 16,
	DM_EVENT_WRITE       = 17,
	DM_EVENT_TRUNCATE    = 18,
	DM_EVENT_ATTRIBUTE   = 19,
	DM_EVENT_DESTROY     = 20,
	DM_EVENT_NOSPACE     = 21,
	DM_EVENT_USER        = 22,
	DM_EVENT_MAX         = 23
} dm_eventtype_t;

/* event sets: bit (1 << event) of a 64-bit word */
#define DMEV_SET(event_type, event_list) \
	((event_list) |= ((dm_eventset_t)1 << (event_type)))
#define DMEV_CLR(event_type, event_list) \
	((event_list) &= ~((dm_eventset_t)1 << (event_type)))
#define DMEV_ISSET(event_type, event_list) \
	(int)(((event_list) & ((dm_eventset_t)1 << (event_type))) != 0)
#define DMEV_ZERO(event_list) \
	((event_list) = 0)

typedef enum {
	DM_RESP_INVALID  = 0,
	DM_RESP_CONTINUE = 1,
	DM_RESP_ABORT    = 2,
	DM_RESP_DONTCARE = 3
} dm_response_t;

typedef enum {
	DM_MSGTYPE_INVALID = 0,
	DM_MSGTYPE_SYNC    = 1,
	DM_MSGTYPE_ASYNC   = 2
} dm_msgtype_t;

typedef enum {
	DM_RIGHT_NULL   = 0,
	DM_RIGHT_SHARED = 1,
	DM_RIGHT_EXCL   = 2
} dm_right_t;

typedef enum {
	DM_EXTENT_INVALID = 0,
	DM_EXTENT_RES     = 1,
	DM_EXTENT_HOLE    = 2
} dm_extenttype_t;

typedef enum {
	DM_CONFIG_INVALID               = 0,
	DM_CONFIG_BULKALL               = 1,
	DM_CONFIG_CREATE_BY_HANDLE      = 2,
	DM_CONFIG_DTIME_OVERLOAD        = 3,
	DM_CONFIG_LEGACY                = 4,
	DM_CONFIG_LOCK_UPGRADE          = 5,
	DM_CONFIG_MAX_ATTR_ON_DESTROY   = 6,
	DM_CONFIG_MAX_ATTRIBUTE_SIZE    = 7,
	DM_CONFIG_MAX_HANDLE_SIZE       = 8,
	DM_CONFIG_MAX_MANAGED_REGIONS   = 9,
	DM_CONFIG_MAX_MESSAGE_DATA      = 10,
	DM_CONFIG_OBJ_REF               = 11,
	DM_CONFIG_PENDING               = 12,
	DM_CONFIG_PERS_ATTRIBUTES       = 13,
	DM_CONFIG_PERS_EVENTS           = 14,
	DM_CONFIG_PERS_INHERIT_ATTRIBS  = 15,
	DM_CONFIG_PERS_MANAGED_REGIONS  = 16,
	DM_CONFIG_PUNCH_HOLE            = 17,
	DM_CONFIG_TOTAL_ATTRIBUTE_SPACE = 18,
	DM_CONFIG_WILL_RETRY            = 19
} dm_config_t;

/* ---- flags */
#define DM_EV_WAIT        0x1   /* dm_get_events: block */
#define DM_RR_WAIT        0x1   /* dm_request_right: block */
#define DM_WRITE_SYNC     0x1   /* dm_write_invis: synchronous */
#define DM_MOUNT_RDONLY   0x1   /* me_mode */
#define DM_UNMOUNT_FORCE  0x1   /* ne_mode of PREUNMOUNT/UNMOUNT */

#define DM_REGION_NOEVENT  0x0
#define DM_REGION_READ     0x1
#define DM_REGION_WRITE    0x2
#define DM_REGION_TRUNCATE 0x4

/* DM_AT_* masks (SGI values) */
#define DM_AT_MODE    0x0001
#define DM_AT_UID     0x0002
#define DM_AT_GID     0x0004
#define DM_AT_ATIME   0x0008
#define DM_AT_MTIME   0x0010
#define DM_AT_CTIME   0x0020
#define DM_AT_SIZE    0x0040
#define DM_AT_DTIME   0x0080
#define DM_AT_HANDLE  0x0100
#define DM_AT_EMASK   0x0200
#define DM_AT_PMANR   0x0400
#define DM_AT_PATTR   0x0800
#define DM_AT_STAT    0x1000
#define DM_AT_CFLAG   0x2000

/* ---- variable-length data */
typedef struct {
	int          vd_offset;   /* from the start of the containing structure */
	unsigned int vd_length;
} dm_vardata_t;

#define DM_GET_VALUE(p, field, type) \
	((type)((char *)(p) + (p)->field.vd_offset))
#define DM_GET_LEN(p, field) \
	((p)->field.vd_length)
#define DM_STEP_TO_NEXT(p, type) \
	((type)((p)->_link ? (char *)(p) + (p)->_link : NULL))

typedef struct dm_attrname {
	unsigned char an_chars[DM_ATTR_NAME_SIZE];
} dm_attrname_t;

typedef struct dm_timestruct {
	time_t dm_tv_sec;
	int    dm_tv_nsec;
} dm_timestruct_t;

/* ---- messages (x86-64: sizes 24, 24, 40, 44, 24, 8) */
typedef struct dm_eventmsg {
	int            _link;
	dm_eventtype_t ev_type;
	dm_token_t     ev_token;
	dm_sequence_t  ev_sequence;
	dm_vardata_t   ev_data;
} dm_eventmsg_t;

typedef struct dm_cancel_event {
	dm_sequence_t ce_sequence;
	dm_token_t    ce_token;
} dm_cancel_event_t;

typedef struct dm_data_event {
	dm_vardata_t de_handle;
	dm_off_t     de_offset;
	dm_size_t    de_length;
} dm_data_event_t;

typedef struct dm_destroy_event {
	dm_vardata_t  ds_handle;
	dm_attrname_t ds_attrname;
	dm_vardata_t  ds_attrcopy;
} dm_destroy_event_t;

typedef struct dm_mount_event {
	mode_t       me_mode;
	dm_vardata_t me_handle1;     /* filesystem handle */
	dm_vardata_t me_handle2;     /* mounted-on directory */
	dm_vardata_t me_name1;       /* mount point */
	dm_vardata_t me_name2;       /* device (backing directory) */
	dm_vardata_t me_roothandle;
} dm_mount_event_t;

typedef struct dm_namesp_event {
	mode_t       ne_mode;
	dm_vardata_t ne_handle1;
	dm_vardata_t ne_handle2;
	dm_vardata_t ne_name1;
	dm_vardata_t ne_name2;
	int          ne_retcode;
} dm_namesp_event_t;

/* ---- other structures */
typedef struct dm_region {
	dm_off_t     rg_offset;
	dm_size_t    rg_size;
	unsigned int rg_flags;
	unsigned int rg_opaque;      /* SGI rg_pad1 */
} dm_region_t;

typedef struct dm_extent {
	dm_extenttype_t ex_type;
	unsigned int    ex_pad1;
	dm_off_t        ex_offset;
	dm_size_t       ex_length;
} dm_extent_t;

typedef struct dm_attrlist {
	int           _link;
	dm_attrname_t al_name;
	dm_vardata_t  al_data;
} dm_attrlist_t;

typedef struct dm_dispinfo {
	int           _link;
	unsigned int  di_pad1;
	dm_vardata_t  di_fshandle;
	dm_eventset_t di_eventset;
} dm_dispinfo_t;

typedef struct dm_inherit {
	dm_attrname_t ih_name;
	mode_t        ih_filetype;
} dm_inherit_t;

typedef struct dm_fileattr {
	mode_t   fa_mode;
	uid_t    fa_uid;
	gid_t    fa_gid;
	time_t   fa_atime;
	time_t   fa_mtime;
	time_t   fa_ctime;
	time_t   fa_dtime;
	unsigned int fa_pad1;
	dm_off_t fa_size;
} dm_fileattr_t;

typedef struct dm_stat {
	int           _link;
	dm_vardata_t  dt_handle;
	dm_vardata_t  dt_compname;
	int           dt_nevents;
	dm_eventset_t dt_emask;
	int           dt_pers;
	int           dt_pmanreg;
	time_t        dt_dtime;
	unsigned int  dt_change;
	uint64_t      dt_dev;
	dm_ino_t      dt_ino;
	mode_t        dt_mode;
	unsigned int  dt_nlink;
	uid_t         dt_uid;
	gid_t         dt_gid;
	uint64_t      dt_rdev;
	dm_off_t      dt_size;
	time_t        dt_atime;
	time_t        dt_mtime;
	time_t        dt_ctime;
	unsigned int  dt_blksize;
	dm_size_t     dt_blocks;

	/* SGI's filesystem-specific tail, in SGI's order.  dt_fstype is the
	 * filesystem type index of sysfs(2) (option 1, GETFSIND) for "fuse", i.e. the 0-based line of
	 * "fuse" in /proc/filesystems on the daemon's machine (-1 if it cannot be found).  The
	 * sgi_xfs fields are filled as dmapifs can honestly know them: igen = the handle's
	 * generation (dm_handle_to_igen); xflags = DM_XFLAG_HASATTR when the object holds DM
	 * attributes, no other flag; extsize = 0 (no extent-size hint); extents = the number of data
	 * extents of a regular file found with SEEK_DATA/SEEK_HOLE on the backing file (0 for other
	 * objects and when the file cannot be opened); aextents = 0 (attribute-fork extents are an
	 * XFS notion); dmstate = 0.  Types decided here: igen is dm_igen_t (32 bits), xflags,
	 * extsize and extents unsigned int, aextents and dmstate unsigned short. */
	int           dt_fstype;
	union {
		struct {
			dm_igen_t      igen;
			unsigned int   xflags;
			unsigned int   extsize;
			unsigned int   extents;
			unsigned short aextents;
			unsigned short dmstate;
		} sgi_xfs;
	} fsys_dep;
} dm_stat_t;                                     /* 168 bytes */

#define dt_xfs_igen     fsys_dep.sgi_xfs.igen
#define dt_xfs_xflags   fsys_dep.sgi_xfs.xflags
#define dt_xfs_extsize  fsys_dep.sgi_xfs.extsize
#define dt_xfs_extents  fsys_dep.sgi_xfs.extents
#define dt_xfs_aextents fsys_dep.sgi_xfs.aextents
#define dt_xfs_dmstate  fsys_dep.sgi_xfs.dmstate

/* dt_xfs_xflags bits (SGI's values, the XFS_XFLAG_* ones). */
#define DM_XFLAG_REALTIME   0x00000001
#define DM_XFLAG_PREALLOC   0x00000002
#define DM_XFLAG_IMMUTABLE  0x00000008
#define DM_XFLAG_APPEND     0x00000010
#define DM_XFLAG_SYNC       0x00000020
#define DM_XFLAG_NOATIME    0x00000040
#define DM_XFLAG_NODUMP     0x00000080
#define DM_XFLAG_HASATTR    0x80000000

typedef struct dm_xstat {
	dm_stat_t    dx_statinfo;
	dm_vardata_t dx_attrdata;
} dm_xstat_t;                                    /* 176 bytes */

/* SGI extension: direct-I/O constraints of a file (dm_get_dioinfo).  d_mem: buffer alignment;
 * d_miniosz: the smallest (and the granule of) direct-I/O transfer; d_maxiosz: the largest. */
typedef struct dm_dioinfo {
	unsigned int d_mem;
	unsigned int d_miniosz;
	unsigned int d_maxiosz;
	dm_boolean_t d_dio_only;
} dm_dioinfo_t;

/* ---- functions (0 / -1 and errno unless noted) */
extern int dm_init_service(char **versionstrpp);

extern int dm_create_session(dm_sessid_t oldsid, char *sessinfop, dm_sessid_t *newsidp);
extern int dm_destroy_session(dm_sessid_t sid);
extern int dm_getall_sessions(unsigned int nelem, dm_sessid_t *sidbufp, unsigned int *nelemp);
extern int dm_query_session(dm_sessid_t sid, size_t buflen, void *bufp, size_t *rlenp);

extern int dm_get_events(dm_sessid_t sid, unsigned int maxmsgs, unsigned int flags, size_t buflen,
	void *bufp, size_t *rlenp);
extern int dm_respond_event(dm_sessid_t sid, dm_token_t token, dm_response_t response, int reterror,
	size_t buflen, void *respbufp);
extern int dm_find_eventmsg(dm_sessid_t sid, dm_token_t token, size_t buflen, void *bufp, size_t *rlenp);
extern int dm_getall_tokens(dm_sessid_t sid, unsigned int nelem, dm_token_t *tokenbufp, unsigned int *nelemp);
extern int dm_move_event(dm_sessid_t srcsid, dm_token_t token, dm_sessid_t targetsid, dm_token_t *rtokenp);
extern int dm_pending(dm_sessid_t sid, dm_token_t token, dm_timestruct_t *delay);
extern int dm_create_userevent(dm_sessid_t sid, size_t msglen, void *msgdatap, dm_token_t *tokenp);
extern int dm_send_msg(dm_sessid_t targetsid, dm_msgtype_t msgtype, size_t buflen, void *bufp);

extern int dm_set_disp(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_eventset_t *eventsetp,
	unsigned int maxevent);
extern int dm_getall_disp(dm_sessid_t sid, size_t buflen, void *bufp, size_t *rlenp);
extern int dm_set_eventlist(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_eventset_t *eventsetp,
	unsigned int maxevent);
extern int dm_get_eventlist(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_eventset_t *eventsetp, unsigned int *nelemp);
extern int dm_get_config_events(void *hanp, size_t hlen, unsigned int nelem, dm_eventset_t *eventsetp,
	unsigned int *nelemp);
extern int dm_get_config(void *hanp, size_t hlen, dm_config_t flagname, dm_size_t *retvalp);
extern int dm_get_mountinfo(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, size_t buflen,
	void *bufp, size_t *rlenp);

extern int dm_path_to_handle(char *path, void **hanpp, size_t *hlenp);
extern int dm_path_to_fshandle(char *path, void **hanpp, size_t *hlenp);
extern int dm_fd_to_handle(int fd, void **hanpp, size_t *hlenp);
extern int dm_handle_to_fshandle(void *hanp, size_t hlen, void **fshanpp, size_t *fshlenp);
extern int dm_handle_to_fsid(void *hanp, size_t hlen, dm_fsid_t *fsidp);
extern int dm_handle_to_ino(void *hanp, size_t hlen, dm_ino_t *inop);
extern int dm_handle_to_igen(void *hanp, size_t hlen, dm_igen_t *igenp);
extern int dm_make_handle(dm_fsid_t *fsidp, dm_ino_t *inop, dm_igen_t *igenp, void **hanpp, size_t *hlenp);
extern int dm_make_fshandle(dm_fsid_t *fsidp, void **hanpp, size_t *hlenp);
extern int dm_handle_cmp(void *hanp1, size_t hlen1, void *hanp2, size_t hlen2);
extern unsigned int dm_handle_hash(void *hanp, size_t hlen);
extern dm_boolean_t dm_handle_is_valid(void *hanp, size_t hlen);
extern void dm_handle_free(void *hanp, size_t hlen);
extern int dm_handle_to_path(void *dirhanp, size_t dirhlen, void *targhanp, size_t targhlen, size_t buflen,
	char *pathbufp, size_t *rlenp);

extern int dm_request_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int flags,
	dm_right_t right);
extern int dm_release_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token);
extern int dm_upgrade_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token);
extern int dm_downgrade_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token);
extern int dm_query_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_right_t *rightp);
extern int dm_obj_ref_hold(dm_sessid_t sid, dm_token_t token, void *hanp, size_t hlen);
extern int dm_obj_ref_rele(dm_sessid_t sid, dm_token_t token, void *hanp, size_t hlen);
extern int dm_obj_ref_query(dm_sessid_t sid, dm_token_t token, void *hanp, size_t hlen);   /* 1 held, 0 not */

extern int dm_set_region(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_region_t *regbufp, dm_boolean_t *exactflagp);
extern int dm_get_region(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_region_t *regbufp, unsigned int *nelemp);

extern int dm_set_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep,
	int setdtime, size_t buflen, void *bufp);
extern int dm_get_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep,
	size_t buflen, void *bufp, size_t *rlenp);
extern int dm_remove_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, int setdtime,
	dm_attrname_t *attrnamep);
extern int dm_getall_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, size_t buflen,
	void *bufp, size_t *rlenp);
extern int dm_set_return_on_destroy(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token,
	dm_attrname_t *attrnamep, dm_boolean_t enable);
extern int dm_set_inherit(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep,
	mode_t mode);
extern int dm_clear_inherit(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep);
extern int dm_getall_inherit(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_inherit_t *inheritbufp, unsigned int *nelemp);

extern int dm_get_fileattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_stat_t *statp);
extern int dm_set_fileattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_fileattr_t *attrp);
extern int dm_init_attrloc(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrloc_t *locp);
extern int dm_get_dirattrs(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp);              /* 1 more, 0 done */
extern int dm_get_bulkattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp);              /* 1 more, 0 done */
extern int dm_get_bulkall(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_attrname_t *attrnamep, dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp);

extern dm_ssize_t dm_read_invis(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t off,
	dm_size_t len, void *bufp);
extern dm_ssize_t dm_write_invis(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, int flags,
	dm_off_t off, dm_size_t len, void *bufp);
extern int dm_probe_hole(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t off, dm_size_t len,
	dm_off_t *roffp, dm_size_t *rlenp);
extern int dm_punch_hole(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t off, dm_size_t len);
extern int dm_get_allocinfo(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t *offp,
	unsigned int nelem, dm_extent_t *extentp, unsigned int *nelemp);            /* 1 more, 0 done */
extern int dm_sync_by_handle(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token);

extern int dm_create_by_handle(dm_sessid_t sid, void *dirhanp, size_t dirhlen, dm_token_t token, void *hanp,
	size_t hlen, char *cname);
extern int dm_mkdir_by_handle(dm_sessid_t sid, void *dirhanp, size_t dirhlen, dm_token_t token, void *hanp,
	size_t hlen, char *cname);
extern int dm_symlink_by_handle(dm_sessid_t sid, void *dirhanp, size_t dirhlen, dm_token_t token, void *hanp,
	size_t hlen, char *cname, char *path);

/* SGI extension: open the object of a handle (found under its filesystem's mount point on this
 * machine); returns a file descriptor.  A filesystem handle opens the mount point. */
extern int dm_open_by_handle(void *hanp, size_t hlen, int mode);

/* SGI extension: direct-I/O alignment of a regular file: d_mem = d_miniosz = the backing file's
 * block size (st_blksize, the backing filesystem's block size on ext4/XFS), d_maxiosz = 131072
 * (the mount's max_write, rounded down to a multiple of d_miniosz),
 * d_dio_only = DM_FALSE.  Needs DM_RIGHT_SHARED when a token is given; a filesystem, directory or
 * other non-regular handle -> EINVAL. */
extern int dm_get_dioinfo(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_dioinfo_t *diop);

#ifdef __cplusplus
}
#endif
#endif
