/* guest.h - rls-guest's side of the host-guest protocol (rls-guest(7)).
 *
 * rls-guest is pid 1 of the microVM: it mounts what the host shares, runs
 * one command and streams its output back over a virtio-serial port, one
 * JSON object per line.  This header is the codec: the strict decoder of
 * the host's lines and the encoder of the guest's.  It stands alone (no
 * jansson, no other rls module): the guest is a static program, and the
 * decoder is fuzzed on its own (t/fuzz/fuzz-guest-proto.c).
 *
 * Everything a line carries is untrusted until guest_decode() has checked
 * it: the grammar (RFC 8259 JSON, no duplicate keys, integers only, no NUL
 * in any string), the size of the line, the type of every field, and the
 * content of the base64 strings.  Unknown fields are refused too: both
 * ends are built from one tree, and a field the guest does not understand
 * is one whose meaning it would be guessing.
 */
#ifndef RLS_GUEST_H
#define RLS_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"

/* The version both ends speak; the guest says it in its first line. */
#define GUEST_PROTO_VERSION 1
/* Longest line either end may send, newline included; the host's "run"
 * line (argv and environment) may be longer, up to GUEST_RUN_LINE_MAX. */
#define GUEST_LINE_MAX 65536
#define GUEST_RUN_LINE_MAX (4u << 20)
/* Most bytes of stream data in one "out" or "in" line (before base64). */
#define GUEST_CHUNK_MAX 32768
/* The host sends at most this much stdin that the guest has not yet
 * acknowledged with "in_ack". */
#define GUEST_STDIN_WINDOW (256u << 10)
/* The virtio-serial port's name, and the shares' tags. */
#define GUEST_PORT_NAME "org.rls.guest.0"
#define GUEST_WORK_TAG "rlswork"
#define GUEST_SYS_TAG "rlssys"
/* Where the system share is mounted before its folders are bound into / */
#define GUEST_SYS_MOUNT "/run/rls/sys"

typedef enum guest_share {
	GUEST_SHARE_VIRTIOFS,
	GUEST_SHARE_9P,
} guest_share;

/* What the host asks for: the first line it sends. */
typedef struct guest_run {
	char **argv;		/* NULL-terminated, argc >= 1 */
	size_t argc;
	char **env;		/* NULL-terminated, each NAME=VALUE */
	size_t envc;
	char *cwd;		/* absolute */
	char *mount_at;		/* absolute, normal form, where the work share goes */
	guest_share share;
	bool sys;		/* mount the system share (GUEST_SYS_TAG) */
	bool net;		/* configure the network device */
	uint32_t uid, gid;	/* never 0 */
	int64_t time_sec;	/* the host's clock, CLOCK_REALTIME */
	int64_t time_nsec;
	unsigned char seed[64];	/* entropy for the guest's pool */
	size_t seed_len;
	uint64_t tmp_size;	/* bytes of /tmp and HOME each, 0: the kernel's default */
	uint64_t pids;		/* the command's uid may hold this many processes; 0: no limit */
} guest_run;

typedef enum guest_msg_type {
	GUEST_MSG_RUN,		/* guest_run */
	GUEST_MSG_IN,		/* data, len: bytes for the command's stdin */
	GUEST_MSG_IN_EOF,	/* no more stdin */
	GUEST_MSG_SIGNAL,	/* sig: send it to the command's process group */
	GUEST_MSG_BYE,		/* the host has the exit status: power off */
} guest_msg_type;

typedef struct guest_msg {
	guest_msg_type type;
	guest_run run;
	unsigned char *data;
	size_t len;
	int sig;
} guest_msg;

/* Decode one line from the host (without its newline).  0 and *msg filled
 * (free with guest_msg_free), or -1 with a reason in why[]. */
int guest_decode(const char *line, size_t len, guest_msg *msg, char *why, size_t why_size);
void guest_msg_free(guest_msg *msg);

/* A growable output line. */
typedef struct guest_buf {
	char *data;
	size_t len, cap;
} guest_buf;

void guest_buf_free(guest_buf *b);

/* The guest's lines, appended to *b, each ending in a newline.  Strings
 * are escaped into valid JSON whatever their bytes (invalid UTF-8 becomes
 * U+FFFD); data is base64. */
void guest_encode_hello(guest_buf *b, const char *arch);
void guest_encode_started(guest_buf *b);
void guest_encode_out(guest_buf *b, int fd, const void *data, size_t len);
void guest_encode_in_ack(guest_buf *b, size_t n);
void guest_encode_exit(guest_buf *b, bool signaled, int value);
void guest_encode_error(guest_buf *b, const char *msg);

#endif
