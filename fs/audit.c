/* audit.c - denied accesses as JSON lines (--audit FILE). */
#include "internal.h"

#include <time.h>

void audit_denial(rlsfs *fs, fuse_req_t req, const char *op, const char *path, policy_level level, int err)
{
	_cleanup_buf_ rls_buf line = { 0 };
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (fs->audit_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	rls_buf_printf(&line, "{\"time\":\"%s.%03ldZ\",\"op\":\"%s\",\"path\":\"", when, ts.tv_nsec / 1000000, op);
	rls_buf_add_json(&line, path);
	rls_buf_printf(&line, "\",\"level\":\"%s\",\"errno\":\"%s\",\"pid\":%d}\n", policy_level_name(level),
		       err == ENOENT ? "ENOENT" : err == EXDEV ? "EXDEV" : err == EPERM ? "EPERM" :
		       err == ENOTEMPTY ? "ENOTEMPTY" : "EACCES",
		       ctx ? (int)ctx->pid : 0);
	/* O_APPEND and one write per line: lines from many threads and many
	 * mounts never interleave. */
	pthread_mutex_lock(&fs->audit_lock);
	(void)rls_write_all(fs->audit_fd, line.data, line.len);
	pthread_mutex_unlock(&fs->audit_lock);
}
