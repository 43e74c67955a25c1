/* audit.c - denied accesses as JSON lines (--audit FILE).
 *
 * The sandbox decides how often it is denied: a loop of stat(".env") is a
 * denial per call, a hundred thousand lines in seconds.  So the log is
 * bounded twice: in rate, by a token bucket (a burst of --audit-rate's
 * BURST lines, then RATE a second), and in size (--audit-max-size).  The
 * denials left out are counted, and the count is written as a line of its
 * own, {"time":...,"dropped":N}, when the rate allows (at most once a
 * second) and always at unmount, so a reader knows how many it did not
 * see.  Each such line counts the denials dropped since the one before.
 *
 * A denial line is written only while room is left after it for one count
 * line, so the file ends within the cap (at most one count line beyond it
 * when several mounts share the file).
 */
#include "internal.h"

#include <jansson.h>

#include <fcntl.h>
#include <time.h>

/* Room kept below the cap for the count line written at unmount. */
#define DROPPED_LINE_MAX 72

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int audit_open(rlsfs *fs, const char *path, rls_error *err)
{
	fs->audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fs->audit_fd < 0)
		return rls_error_set(err, errno, "audit file %s", path);
	fs->audit_refilled_ns = fs->audit_dropped_said_ns = monotonic_ns();
	fs->audit_tokens = fs->audit_burst;
	return 0;
}

/* Take a token if the rate allows a line now.  Audit lock held. */
static bool take_token(rlsfs *fs, int64_t now)
{
	if (fs->audit_rate <= 0)
		return true;
	fs->audit_tokens += (double)(now - fs->audit_refilled_ns) / 1e9 * fs->audit_rate;
	if (fs->audit_tokens > fs->audit_burst)
		fs->audit_tokens = fs->audit_burst;
	fs->audit_refilled_ns = now;
	if (fs->audit_tokens < 1)
		return false;
	fs->audit_tokens -= 1;
	return true;
}

/* May a line of len bytes go in, leaving `keep` bytes below the cap? */
static bool room_for(rlsfs *fs, size_t len, size_t keep)
{
	struct stat st;

	if (!fs->audit_max)
		return true;
	/* the file's own size: other mounts may append to it too */
	if (fstat(fs->audit_fd, &st) < 0)
		return false;
	return (uint64_t)st.st_size + len + keep <= fs->audit_max;
}

/* "2026-11-25T05:12:15.001Z" */
static void now_utc(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03ldZ", when, ts.tv_nsec / 1000000);
}

/* One audit line: the object, compact and ASCII (a name's controls and
 * bidirectional marks escaped), and a newline.  Takes o. */
static char *audit_line(json_t *o, size_t *len)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	char *line = NULL;

	json_decref(o);
	if (text) {
		line = rls_xasprintf("%s\n", text);
		*len = strlen(line);
	}
	free(text);
	return line;
}

/* O_APPEND and one write per line: lines from many threads and many mounts
 * never interleave. */
static void write_line(rlsfs *fs, const char *line, size_t len)
{
	(void)rls_write_all(fs->audit_fd, line, len);
}

/* The count of dropped denials, if there are any and (unless `always`) a
 * second has passed since the last count and the rate and the cap allow a
 * line.  Audit lock held. */
static void write_dropped(rlsfs *fs, int64_t now, bool always)
{
	_cleanup_free_ char *line = NULL;
	char when[48];
	size_t len = 0;

	if (!fs->audit_dropped || (!always && now - fs->audit_dropped_said_ns < 1000000000))
		return;
	now_utc(when, sizeof when);
	line = audit_line(json_pack("{s:s, s:I}", "time", when, "dropped", (json_int_t)fs->audit_dropped), &len);
	if (!line || (!always && (!room_for(fs, len, DROPPED_LINE_MAX) || !take_token(fs, now))))
		return;
	write_line(fs, line, len);
	fs->audit_dropped = 0;
	fs->audit_dropped_said_ns = now;
}

void audit_denial(rlsfs *fs, fuse_req_t req, const char *op, const char *path, policy_level level, int err)
{
	_cleanup_free_ char *line = NULL;
	char when[48];
	size_t len = 0;
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;
	int64_t now;

	if (fs->audit_fd < 0)
		return;
	pthread_mutex_lock(&fs->audit_lock);
	now = monotonic_ns();
	write_dropped(fs, now, false);
	if (!take_token(fs, now)) {
		fs->audit_dropped++;
		pthread_mutex_unlock(&fs->audit_lock);
		return;
	}
	now_utc(when, sizeof when);
	line = audit_line(json_pack("{s:s, s:s, s:o, s:s, s:s, s:i}", "time", when, "op", op, "path",
				    rls_json_name(path), "level", policy_level_name(level), "errno",
				    err == ENOENT ? "ENOENT" : err == EXDEV ? "EXDEV" : err == EPERM ? "EPERM" :
				    err == ENOTEMPTY ? "ENOTEMPTY" : "EACCES", "pid", ctx ? (int)ctx->pid : 0),
			  &len);
	if (line && room_for(fs, len, DROPPED_LINE_MAX))
		write_line(fs, line, len);
	else
		fs->audit_dropped++;
	pthread_mutex_unlock(&fs->audit_lock);
}

void audit_close(rlsfs *fs)
{
	if (fs->audit_fd < 0)
		return;
	pthread_mutex_lock(&fs->audit_lock);
	write_dropped(fs, monotonic_ns(), true);
	pthread_mutex_unlock(&fs->audit_lock);
	close(fs->audit_fd);
	fs->audit_fd = -1;
}
