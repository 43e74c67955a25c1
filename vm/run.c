/* run.c - one command in a fresh microVM: the session behind vm_run.
 *
 *   check      the request makes sense (never uid 0, a normal mount point)
 *   prepare    the image and qemu, KVM or TCG, a private folder and the
 *              janitor that removes it should we die
 *   shares     virtiofsd for the folder and the system view (or nothing:
 *              qemu serves 9p itself)
 *   boot       qemu; wait for rls-guest's hello (boot timeout)
 *   request    the "run" line; wait for "started"
 *   stream     stdout/stderr from the guest, stdin and signals to it, the
 *              timeout (SIGTERM, then after the grace the VM ends)
 *   end        "bye", let the guest power off, or kill qemu
 *   cleanup    every process killed and reaped, every fd closed, the
 *              private folder removed: on every path
 *
 * Each side always reads the other's control lines; only the data is
 * throttled.  The guest stops reading the command's output while its
 * queue to us is long; we stop reading the guest while our queue to the
 * caller's stdout is long; our stdin to the guest is bounded by a window
 * the guest acknowledges.  So a slow reader slows the command down and
 * nothing grows without bound, while a timeout or a signal still gets
 * through.
 */
#include "vmint.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <time.h>

/* Protocol numbers from rls-guest(7); guest/guest.h has the same. */
#define PROTO_VERSION 1
#define CHUNK_MAX 32768
#define STDIN_WINDOW (256u << 10)

/* Stop reading the guest while this much output waits for the caller. */
#define OUTQ_HIGH (1u << 20)
/* What is kept of the console for error messages: enough to still hold
 * a panic's first line below its stack dump. */
#define TAIL_MAX 16384
/* After the exit status: how long the guest may take to power off. */
#define POWEROFF_WAIT_S 10.0

typedef enum phase {
	PHASE_BOOT,	/* waiting for hello */
	PHASE_START,	/* request sent, waiting for started */
	PHASE_RUN,
	PHASE_EXITED,	/* the status is in; waiting for qemu to end */
	PHASE_DONE,
} phase;

typedef struct out_queue {
	int fd;
	rls_buf buf;
	size_t off;
	bool broken;	/* the caller's end is closed: drop what comes */
} out_queue;

typedef struct session {
	const vm_request *req;
	vm_result *res;
	bool probe;		/* only boot and wait for hello */
	run_kvm_fn use_kvm;	/* KVM or TCG, for a run */
	const char *image_dir;	/* NULL: the default places */
	vm_image img;
	bool kvm;
	const char *share;	/* "virtiofs" or "9p" */
	bool sys;
	char *tmpdir;
	janitor jan;
	share_server fs[2];
	size_t n_fs;
	pid_t qemu;
	int qemu_pidfd;
	int ctl, con;		/* our ends */
	int con_peer;		/* the console's other end: qemu's and virtiofsd's stderr */
	phase phase;
	double t_qemu;		/* when qemu started */
	double deadline;	/* of the phase; 0: none */
	double kill_at;		/* after a timeout's SIGTERM; 0: none */

	rls_buf ctl_out;	/* our lines not yet written */
	size_t ctl_out_off;
	char *in;		/* the guest's bytes not yet a whole line */
	size_t in_len;
	out_queue out[2];
	uint64_t stdin_sent, stdin_acked;
	bool stdin_done;
	char tail[TAIL_MAX];	/* the console's last bytes, a ring */
	size_t tail_len, tail_pos;
	bool debug;		/* RLS_VM_DEBUG=1: the console to stderr */
} session;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- check ---- */

static int check_request(const vm_request *req, rls_error *err)
{
	static const char *const reserved[] = { "/dev", "/proc", "/sys", "/run", "/rls", "/tmp", NULL };
	struct stat st;

	if (!req->argv || !req->argv[0] || !req->argv[0][0])
		return rls_error_set(err, 0, "no command to run");
	if (req->uid == 0 || req->gid == 0)
		return rls_error_set(err, 0, "the command never runs as uid or gid 0 in the guest");
	if (!rls_path_is_normal(req->mount_at))
		return rls_error_set(err, 0, "the mount point must be a normal absolute path, not '%s'",
				     req->mount_at ? req->mount_at : "");
	for (const char *const *r = reserved; *r; r++) {
		size_t n = strlen(*r);

		if (!strncmp(req->mount_at, *r, n) && (req->mount_at[n] == '/' || !req->mount_at[n]))
			return rls_error_set(err, 0, "the mount point cannot be under %s", *r);
	}
	if (req->chdir && req->chdir[0] != '/')
		return rls_error_set(err, 0, "the starting directory must be absolute");
	if (!req->share_dir || stat(req->share_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return rls_error_set(err, 0, "the folder to share is not a directory: '%s'",
				     req->share_dir ? req->share_dir : "");
	if (req->share && strcmp(req->share, "virtiofs") && strcmp(req->share, "9p"))
		return rls_error_set(err, 0, "the share must be virtiofs or 9p, not '%s'", req->share);
	if (req->memory && req->memory < (64u << 20))
		return rls_error_set(err, 0, "a guest needs at least 64 MiB of memory");
	if (req->cpus < 0 || req->cpus > 64)
		return rls_error_set(err, 0, "between 1 and 64 vCPUs");
	for (char **e = req->env; e && *e; e++)
		if (!strchr(*e, '=') || **e == '=')
			return rls_error_set(err, 0, "an environment entry is not NAME=VALUE");
	return 0;
}

/* ---- the console ---- */

static void tail_add(session *s, const char *p, size_t n)
{
	if (s->debug)
		(void)!write(2, p, n);
	for (size_t i = 0; i < n; i++) {
		s->tail[s->tail_pos] = p[i];
		s->tail_pos = (s->tail_pos + 1) % TAIL_MAX;
		if (s->tail_len < TAIL_MAX)
			s->tail_len++;
	}
}

static void read_console(session *s)
{
	char buf[4096];
	ssize_t n;

	while (s->con >= 0 && (n = read(s->con, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			break;
		}
		tail_add(s, buf, (size_t)n);
	}
	if (s->con >= 0) {
		close(s->con);
		s->con = -1;
	}
}

/* The console's last lines, made printable: the guest wrote them. */
static void tail_text(session *s, char *out, size_t size)
{
	char flat[TAIL_MAX + 1];
	size_t start = (s->tail_pos + TAIL_MAX - s->tail_len) % TAIL_MAX, n = 0;
	int lines = 0;
	size_t from;

	read_console(s);
	for (size_t i = 0; i < s->tail_len; i++)
		flat[n++] = s->tail[(start + i) % TAIL_MAX];
	while (n && (flat[n - 1] == '\n' || flat[n - 1] == '\r'))
		n--;
	flat[n] = '\0';
	/* the last 6 lines, at most what fits */
	from = n;
	while (from > 0 && lines < 6 && n - from < size / 2) {
		from--;
		if (flat[from] == '\n')
			lines++;
	}
	if (from < n && flat[from] == '\n')
		from++;
	size_t o = 0;
	for (size_t i = from; i < n && o + 4 < size; i++) {
		unsigned char c = (unsigned char)flat[i];

		if (c == '\n') {
			out[o++] = ' ';
			out[o++] = '|';
			out[o++] = ' ';
		} else if (c == '\r') {
			continue;
		} else {
			out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	out[o] = '\0';
	if (!o)
		snprintf(out, size, "(nothing)");
}

/* The kernel's panic line, if the console holds one: it says more than
 * the register dump after it. */
static void panic_line(session *s, char *out, size_t size)
{
	char flat[TAIL_MAX + 1];
	size_t start = (s->tail_pos + TAIL_MAX - s->tail_len) % TAIL_MAX, o = 0;
	const char *p;

	out[0] = '\0';
	for (size_t i = 0; i < s->tail_len; i++)
		flat[i] = s->tail[(start + i) % TAIL_MAX] ? s->tail[(start + i) % TAIL_MAX] : ' ';
	flat[s->tail_len] = '\0';
	p = strstr(flat, "Kernel panic - ");
	if (!p)
		return;
	for (; *p && *p != '\n' && o + 1 < size; p++)
		if (*p != '\r')
			out[o++] = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?';
	out[o] = '\0';
}

static int fail_with_console(session *s, rls_error *err, const char *fmt, ...) RLS_PRINTF(3, 4);
static int fail_with_console(session *s, rls_error *err, const char *fmt, ...)
{
	char what[400], tail[500], panic[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	tail_text(s, tail, sizeof tail);
	panic_line(s, panic, sizeof panic);
	if (panic[0])
		return rls_error_set(err, 0, "%s (%s); the guest's console ended with: %s", what, panic, tail);
	return rls_error_set(err, 0, "%s; the guest's console ended with: %s", what, tail);
}

/* ---- prepare ---- */

static int make_tmpdir(session *s, rls_error *err)
{
	const char *base = getenv("TMPDIR");
	char *t = rls_xasprintf("%s/rls-vm.XXXXXX", base && base[0] == '/' ? base : "/tmp");

	if (!mkdtemp(t)) {
		int e = errno;

		free(t);
		return rls_error_set(err, e, "a private folder under %s", base && base[0] == '/' ? base : "/tmp");
	}
	s->tmpdir = t;
	return janitor_start(t, &s->jan, err);
}

/* The console: the guest's serial port, and what qemu and virtiofsd say
 * on stderr, all in one tail for error messages. */
static int make_console(session *s, rls_error *err)
{
	int con[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0)
		return rls_error_set(err, errno, "socketpair");
	s->con = con[0];
	s->con_peer = con[1];
	fcntl(s->con, F_SETFL, O_NONBLOCK);
	return 0;
}

static int prepare(session *s, rls_error *err)
{
	char why[400];

	if (image_find(s->image_dir, &s->img, err) < 0)
		return -1;
	if (!s->probe) {
		s->kvm = s->use_kvm(&s->img, why, sizeof why);
		if (s->req->share)
			s->share = s->req->share;
		else
			s->share = geteuid() == 0 && image_virtiofsd() ? "virtiofs" : "9p";
		if (!strcmp(s->share, "virtiofs") && geteuid() != 0)
			return rls_error_set(err, 0, "virtiofs needs root (virtiofsd's sandbox); use 9p");
		/* the host's binaries run only on its own architecture */
		s->sys = s->img.native;
	}
	if (make_tmpdir(s, err) < 0)
		return -1;
	return make_console(s, err);
}

/* ---- shares ---- */

static int start_shares(session *s, rls_error *err)
{
	_cleanup_free_ char *stage = NULL;

	if (s->probe || strcmp(s->share, "virtiofs"))
		return 0;
	if (share_virtiofsd(s->tmpdir, "work", s->req->share_dir, false, NULL, s->con_peer, &s->fs[0], err) < 0)
		return -1;
	s->n_fs = 1;
	if (!s->sys)
		return 0;
	stage = rls_xasprintf("%s/sys", s->tmpdir);
	if (mkdir(stage, 0700) < 0)
		return rls_error_set(err, errno, "mkdir %s", stage);
	if (share_virtiofsd(s->tmpdir, "sys", stage, true, s->req->hide, s->con_peer, &s->fs[1], err) < 0)
		return -1;
	s->n_fs = 2;
	return 0;
}

/* ---- boot ---- */

typedef struct qemu_job {
	session *s;
	const char *stage;	/* 9p: stage the system folders here */
	bool drop;		/* become the command's uid:gid (virtiofs) */
} qemu_job;

/* In qemu's child: with 9p, qemu serves the system view itself, so it
 * gets the staged namespace; with virtiofs, qemu needs no privilege at
 * all and runs as the command's own uid, keeping only the kvm group. */
static int qemu_prepare(void *opaque, rls_error *err)
{
	qemu_job *job = opaque;
	const vm_request *req = job->s->req;
	struct stat st;
	gid_t groups[1];
	size_t n = 0;

	if (job->stage && share_stage_system(job->stage, req->hide, err) < 0)
		return -1;
	if (!job->drop)
		return 0;
	if (job->s->kvm && stat("/dev/kvm", &st) == 0)
		groups[n++] = st.st_gid;
	if (setgroups(n, groups) < 0 || setresgid(req->gid, req->gid, req->gid) < 0 ||
	    setresuid(req->uid, req->uid, req->uid) < 0)
		return rls_error_set(err, errno, "qemu as %u:%u", (unsigned)req->uid, (unsigned)req->gid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return rls_error_set(err, errno, "no_new_privs for qemu");
	return 0;
}

static int start_qemu(session *s, rls_error *err)
{
	int ctl[2] = { -1, -1 };
	_cleanup_close_ int kernel_fd = -1, initrd_fd = -1;
	_cleanup_free_ char *stage = NULL;
	const vm_request *req = s->req;
	bool virtiofs = !s->probe && !strcmp(s->share, "virtiofs");
	qemu_spec spec = { .img = &s->img, .name = s->tmpdir, .kvm = s->kvm };
	qemu_job job = { .s = s };
	spawn_opts o = { .stdout_fd = -1, .stderr_fd = -1, .prepare = qemu_prepare, .opaque = &job };
	char **argv;
	int rc = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
		rls_error_set(err, errno, "socketpair");
		goto out;
	}
	kernel_fd = open(s->img.kernel, O_RDONLY | O_CLOEXEC);
	initrd_fd = open(s->img.initrd, O_RDONLY | O_CLOEXEC);
	if (kernel_fd < 0 || initrd_fd < 0) {
		rls_error_set(err, errno, "the guest image in %s", s->img.dir);
		goto out;
	}
	spec.memory = req && req->memory ? req->memory : (512u << 20);
	spec.cpus = req && req->cpus > 0 ? (unsigned)ceil(req->cpus) : 1;
	spec.kernel_fd = kernel_fd;
	spec.initrd_fd = initrd_fd;
	spec.ctl_fd = ctl[1];
	spec.console_fd = s->con_peer;
	spec.virtiofs = virtiofs;
	spec.net = req && req->share_net;
	if (!s->probe) {
		if (virtiofs) {
			for (size_t i = 0; i < s->n_fs; i++) {
				spec.shares[i].tag = i == 0 ? "rlswork" : "rlssys";
				spec.shares[i].vhost_fd = s->fs[i].qemu_fd;
				o.keep[o.n_keep++] = s->fs[i].qemu_fd;
			}
			spec.n_shares = s->n_fs;
			job.drop = true;
		} else {
			spec.shares[0] = (qemu_share){ .tag = "rlswork", .path = req->share_dir };
			spec.n_shares = 1;
			spec.ninep_passthrough = geteuid() == 0;
			if (s->sys) {
				stage = rls_xasprintf("%s/sys", s->tmpdir);
				if (mkdir(stage, 0700) < 0) {
					rls_error_set(err, errno, "mkdir %s", stage);
					goto out;
				}
				spec.shares[1] = (qemu_share){ .tag = "rlssys", .path = stage, .read_only = true };
				spec.n_shares = 2;
				job.stage = stage;
			}
		}
	}
	o.keep[o.n_keep++] = kernel_fd;
	o.keep[o.n_keep++] = initrd_fd;
	o.keep[o.n_keep++] = ctl[1];
	o.keep[o.n_keep++] = s->con_peer;
	o.stderr_fd = s->con_peer;	/* qemu's own complaints join the console */
	argv = qemu_argv(&spec);
	if (s->debug) {
		for (char **a = argv; *a; a++)
			fprintf(stderr, "%s%s", *a, a[1] ? " " : "\n");
	}
	s->t_qemu = now_s();
	s->qemu = spawn_child(argv, &o, err);
	qemu_argv_free(argv);
	if (s->qemu < 0) {
		s->qemu = 0;
		rls_error_prefix(err, "qemu");
		goto out;
	}
	s->qemu_pidfd = spawn_pidfd(s->qemu);
	s->ctl = steal_fd(&ctl[0]);
	fcntl(s->ctl, F_SETFL, O_NONBLOCK);
	/* only qemu and virtiofsd hold the console's other end now: it
	 * ends when they do */
	rls_closep(&s->con_peer);
	s->con_peer = -1;
	rc = 0;
out:
	rls_closep(&ctl[0]);
	rls_closep(&ctl[1]);
	return rc;
}

/* ---- stream ---- */

static size_t out_backlog(session *s)
{
	return (s->out[0].buf.len - s->out[0].off) + (s->out[1].buf.len - s->out[1].off);
}

static int protocol_error(session *s, rls_error *err)
{
	/* the guest's words reach the caller quoted, never as they came */
	char what[sizeof err->msg];

	snprintf(what, sizeof what, "%s", err->msg);
	for (char *p = what; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	return fail_with_console(s, err, "the guest broke the protocol (%s)", what);
}

static void sanitize(char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
}

static int on_message(session *s, const vm_msg *m, rls_error *err)
{
	vm_result *res = s->res;
	char text[sizeof m->text];

	switch (m->type) {
	case VM_MSG_HELLO:
		if (s->phase != PHASE_BOOT)
			break;
		if (m->version != PROTO_VERSION)
			return rls_error_set(err, 0, "the guest image speaks protocol %d, this rls %d: rebuild it with `make image`",
					     m->version, PROTO_VERSION);
		if (strcmp(m->arch, s->img.arch))
			return rls_error_set(err, 0, "the guest says it is %s, its image says %s", m->arch, s->img.arch);
		res->boot_s = now_s() - s->t_qemu;
		if (s->probe) {
			s->phase = PHASE_DONE;
			return 0;
		}
		{
			_cleanup_free_ char *line = proto_run_line(s->req, s->share, s->sys, err);

			if (!line)
				return -1;
			rls_buf_adds(&s->ctl_out, line);
		}
		s->phase = PHASE_START;
		return 0;
	case VM_MSG_STARTED:
		if (s->phase != PHASE_START)
			break;
		res->started = true;
		s->phase = PHASE_RUN;
		if (s->req->started_fd >= 0 && write(s->req->started_fd, "S", 1) < 0)
			rls_warn("telling the caller the command started: %s", strerror(errno));
		s->deadline = s->req->timeout_s > 0 ? now_s() + s->req->timeout_s : 0;
		if (s->req->stdin_fd < 0) {
			proto_in_eof(&s->ctl_out);
			s->stdin_done = true;
		}
		return 0;
	case VM_MSG_OUT: {
		out_queue *q;

		if (s->phase != PHASE_RUN)
			break;
		q = &s->out[m->fd == 2 && s->out[1].fd != s->out[0].fd ? 1 : 0];
		if (!q->broken && q->fd >= 0)
			rls_buf_add(&q->buf, m->data, m->len);
		return 0;
	}
	case VM_MSG_IN_ACK:
		if (s->phase != PHASE_RUN && s->phase != PHASE_EXITED)
			break;
		if (s->stdin_acked + m->count > s->stdin_sent)
			return rls_error_set(err, 0, "a bad line from the guest: more stdin acknowledged than sent");
		s->stdin_acked += m->count;
		return 0;
	case VM_MSG_EXIT:
		if (s->phase != PHASE_RUN)
			break;
		if (m->signaled) {
			res->term_signal = m->value;
			res->exit_code = -1;
		} else {
			res->exit_code = m->value;
			res->term_signal = 0;
		}
		proto_bye(&s->ctl_out);
		s->phase = PHASE_EXITED;
		s->deadline = now_s() + POWEROFF_WAIT_S;
		s->kill_at = 0;
		return 0;
	case VM_MSG_ERROR:
		snprintf(text, sizeof text, "%s", m->text);
		sanitize(text);
		return rls_error_set(err, 0, "the guest could not run the command: %s", text);
	}
	return rls_error_set(err, 0, "a bad line from the guest: a message out of order");
}

/* Whole lines from what the guest sent.  While the caller's output backs
 * up, the guest waits, unless `all`: qemu has ended, and what it left in
 * the socket is the last word. */
static int read_ctl(session *s, bool all, rls_error *err)
{
	for (;;) {
		char buf[65536];
		size_t off = 0;
		ssize_t n;
		char *nl;

		if (!all && out_backlog(s) > OUTQ_HIGH && s->phase == PHASE_RUN)
			return 0;
		n = read(s->ctl, buf, sizeof buf);
		if (n == 0)
			return 1;	/* qemu is going */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return 1;
		}
		s->in = rls_xrealloc(s->in, s->in_len + (size_t)n);
		memcpy(s->in + s->in_len, buf, (size_t)n);
		s->in_len += (size_t)n;
		while ((nl = memchr(s->in + off, '\n', s->in_len - off))) {
			size_t len = (size_t)(nl - (s->in + off));
			vm_msg m;
			int rc;

			if (vm_msg_decode(s->in + off, len, &m, err) < 0)
				return protocol_error(s, err);
			rc = on_message(s, &m, err);
			vm_msg_free(&m);
			off += len + 1;
			if (rc < 0)
				return -1;
		}
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
		if (s->in_len > VM_LINE_MAX) {
			rls_error_set(err, 0, "a line from the guest is longer than %d bytes", VM_LINE_MAX);
			return protocol_error(s, err);
		}
	}
}

static void write_ctl(session *s)
{
	while (s->ctl_out_off < s->ctl_out.len) {
		ssize_t n = write(s->ctl, s->ctl_out.data + s->ctl_out_off, s->ctl_out.len - s->ctl_out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;	/* EAGAIN; anything else shows as qemu's end */
		}
		s->ctl_out_off += (size_t)n;
	}
	rls_buf_reset(&s->ctl_out);
	s->ctl_out_off = 0;
}

static void read_stdin(session *s)
{
	unsigned char buf[CHUNK_MAX];
	uint64_t room = STDIN_WINDOW - (s->stdin_sent - s->stdin_acked);
	size_t want = room < sizeof buf ? (size_t)room : sizeof buf;
	ssize_t n;

	if (!want)
		return;
	n = read(s->req->stdin_fd, buf, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		proto_in_eof(&s->ctl_out);
		s->stdin_done = true;
		return;
	}
	proto_in(&s->ctl_out, buf, (size_t)n);
	s->stdin_sent += (uint64_t)n;
}

/* At most PIPE_BUF per write after POLLOUT: a pipe with room takes
 * that much without blocking, and the caller's fds are not ours to
 * make non-blocking. */
static void write_out(out_queue *q)
{
	size_t left = q->buf.len - q->off;
	ssize_t n;

	if (!left)
		return;
	n = write(q->fd, q->buf.data + q->off, left < PIPE_BUF ? left : PIPE_BUF);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		q->broken = true;	/* EPIPE and the like: nobody reads it */
		rls_buf_reset(&q->buf);
		q->off = 0;
		return;
	}
	q->off += (size_t)n;
	if (q->off == q->buf.len) {
		rls_buf_reset(&q->buf);
		q->off = 0;
	}
}

static void flush_out(session *s)
{
	for (int i = 0; i < 2; i++) {
		out_queue *q = &s->out[i];

		if (!q->broken && q->fd >= 0 && q->buf.len > q->off &&
		    rls_write_all(q->fd, q->buf.data + q->off, q->buf.len - q->off) < 0)
			q->broken = true;
		rls_buf_reset(&q->buf);
		q->off = 0;
	}
}

static void on_signal(session *s)
{
	struct signalfd_siginfo si;

	while (read(s->req->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
		int sig = (int)si.ssi_signo;

		if (sig != SIGINT && sig != SIGTERM && sig != SIGHUP)
			continue;
		s->res->interrupted_by = sig;
		if (s->phase == PHASE_RUN)
			proto_signal(&s->ctl_out, sig);
	}
}

static bool qemu_gone(session *s)
{
	int status;

	if (s->qemu <= 0)
		return true;
	if (waitpid(s->qemu, &status, WNOHANG) == s->qemu) {
		s->qemu = 0;
		return true;
	}
	return false;
}

/* Why qemu ended before the phase did. */
static int early_end(session *s, rls_error *err)
{
	switch (s->phase) {
	case PHASE_BOOT:
		return fail_with_console(s, err, "the guest stopped before it answered");
	case PHASE_START:
		return fail_with_console(s, err, "the guest stopped before the command started");
	default:
		return fail_with_console(s, err, "the guest stopped while the command ran");
	}
}

static int pump(session *s, rls_error *err)
{
	const vm_request *req = s->req;

	while (s->phase != PHASE_DONE) {
		struct pollfd fds[8];
		nfds_t n = 0;
		int ctl_i, con_i, pid_i = -1, sig_i = -1, in_i = -1, out_i[2] = { -1, -1 };
		double now = now_s(), wake = 0;
		int timeout_ms;
		bool run = s->phase == PHASE_RUN;

		/* deadlines */
		if (s->deadline && now >= s->deadline) {
			switch (s->phase) {
			case PHASE_BOOT:
			case PHASE_START:
				return fail_with_console(s, err, "the guest did not %s within %.0f s",
							 s->phase == PHASE_BOOT ? "answer" : "start the command",
							 s->deadline - s->t_qemu);
			case PHASE_RUN:
				s->res->timed_out = true;
				proto_signal(&s->ctl_out, SIGTERM);
				s->deadline = 0;
				s->kill_at = now + (req->grace_s > 0 ? req->grace_s : 2.0);
				break;
			case PHASE_EXITED:
				/* the status is in; a guest slow to power off is just killed */
				spawn_kill(&s->qemu);
				s->phase = PHASE_DONE;
				continue;
			default:
				break;
			}
		}
		if (s->kill_at && now >= s->kill_at) {
			spawn_kill(&s->qemu);
			s->res->term_signal = SIGKILL;
			s->res->exit_code = -1;
			s->phase = PHASE_DONE;
			break;
		}
		if (s->deadline)
			wake = s->deadline;
		if (s->kill_at && (!wake || s->kill_at < wake))
			wake = s->kill_at;

		ctl_i = (int)n;
		fds[n++] = (struct pollfd){ .fd = s->ctl,
					    .events = (short)((out_backlog(s) > OUTQ_HIGH && run ? 0 : POLLIN) |
							      (s->ctl_out.len > s->ctl_out_off ? POLLOUT : 0)) };
		con_i = (int)n;
		fds[n++] = (struct pollfd){ .fd = s->con, .events = POLLIN };
		if (s->qemu_pidfd >= 0) {
			pid_i = (int)n;
			fds[n++] = (struct pollfd){ .fd = s->qemu_pidfd, .events = POLLIN };
		}
		if (req && req->signal_fd >= 0) {
			sig_i = (int)n;
			fds[n++] = (struct pollfd){ .fd = req->signal_fd, .events = POLLIN };
		}
		if (run && !s->stdin_done && s->stdin_sent - s->stdin_acked < STDIN_WINDOW) {
			in_i = (int)n;
			fds[n++] = (struct pollfd){ .fd = req->stdin_fd, .events = POLLIN };
		}
		for (int i = 0; i < 2; i++)
			if (s->out[i].buf.len > s->out[i].off && !s->out[i].broken) {
				out_i[i] = (int)n;
				fds[n++] = (struct pollfd){ .fd = s->out[i].fd, .events = POLLOUT };
			}
		/* without a pidfd, look at qemu now and then */
		timeout_ms = s->qemu_pidfd >= 0 ? -1 : 100;
		if (wake) {
			double ms = (wake - now) * 1000 + 1;

			if (timeout_ms < 0 || ms < timeout_ms)
				timeout_ms = ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
		}
		if (poll(fds, n, timeout_ms) < 0) {
			if (errno == EINTR)
				continue;
			return rls_error_set(err, errno, "poll");
		}
		if (fds[con_i].revents)
			read_console(s);
		if (sig_i >= 0 && fds[sig_i].revents) {
			on_signal(s);
			if (s->res->interrupted_by && (s->phase == PHASE_BOOT || s->phase == PHASE_START))
				return rls_error_set(err, 0, "interrupted by %s before the command started",
						     strsignal(s->res->interrupted_by));
		}
		if (fds[ctl_i].revents & (POLLIN | POLLHUP | POLLERR)) {
			int rc = read_ctl(s, false, err);

			if (rc < 0)
				return -1;
			if (rc > 0) {
				/* the guest's end closed: qemu is ending */
				spawn_kill(&s->qemu);
				if (s->phase != PHASE_EXITED && s->phase != PHASE_DONE)
					return early_end(s, err);
				s->phase = PHASE_DONE;
				break;
			}
		}
		if ((pid_i >= 0 && fds[pid_i].revents) || (s->qemu_pidfd < 0 && qemu_gone(s))) {
			/* what the guest wrote before it went is still to read */
			if (read_ctl(s, true, err) < 0)
				return -1;
			qemu_gone(s);
			if (s->phase != PHASE_EXITED && s->phase != PHASE_DONE)
				return early_end(s, err);
			s->phase = PHASE_DONE;
			break;
		}
		if (in_i >= 0 && fds[in_i].revents)
			read_stdin(s);
		for (int i = 0; i < 2; i++)
			if (out_i[i] >= 0 && fds[out_i[i]].revents)
				write_out(&s->out[i]);
		write_ctl(s);
	}
	return 0;
}

/* ---- cleanup ---- */

static void cleanup(session *s)
{
	rls_error ignored;

	spawn_kill(&s->qemu);
	/* virtiofsd ends by itself once qemu's end of its socket closes;
	 * give it a moment, then make sure */
	for (size_t i = 0; i < s->n_fs; i++) {
		rls_closep(&s->fs[i].qemu_fd);
		s->fs[i].qemu_fd = -1;
	}
	for (size_t i = 0; i < s->n_fs; i++) {
		for (int k = 0; k < 50 && s->fs[i].pid > 0; k++) {
			if (waitpid(s->fs[i].pid, NULL, WNOHANG) == s->fs[i].pid)
				s->fs[i].pid = 0;
			else
				usleep(10000);
		}
		spawn_kill(&s->fs[i].pid);
	}
	rls_closep(&s->qemu_pidfd);
	rls_closep(&s->ctl);
	rls_closep(&s->con);
	rls_closep(&s->con_peer);
	if (s->tmpdir && rls_rm_rf_at(AT_FDCWD, s->tmpdir, &ignored) < 0)
		rls_warn("%s", ignored.msg);
	if (s->jan.pid > 0 || s->jan.fd >= 0)
		janitor_done(&s->jan);
	free(s->tmpdir);
	free(s->in);
	rls_buf_free(&s->ctl_out);
	rls_buf_free(&s->out[0].buf);
	rls_buf_free(&s->out[1].buf);
	image_free(&s->img);
}

static void session_init(session *s, const vm_request *req, vm_result *res)
{
	const char *debug = getenv("RLS_VM_DEBUG");

	memset(s, 0, sizeof *s);
	s->req = req;
	s->res = res;
	s->image_dir = req ? req->image_dir : NULL;
	s->ctl = s->con = s->con_peer = s->qemu_pidfd = -1;
	s->jan.fd = -1;
	s->fs[0].qemu_fd = s->fs[1].qemu_fd = -1;
	s->out[0].fd = req ? req->stdout_fd : -1;
	s->out[1].fd = req ? req->stderr_fd : -1;
	s->debug = debug && !strcmp(debug, "1");
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
}

static double boot_timeout(const session *s)
{
	if (s->req && s->req->boot_timeout_s > 0)
		return s->req->boot_timeout_s;
	return s->kvm ? 30.0 : 120.0;
}

int run_session(const vm_request *req, vm_result *res, run_kvm_fn use_kvm, rls_error *err)
{
	session s;
	int rc = -1;

	session_init(&s, req, res);
	s.use_kvm = use_kvm;
	if (check_request(req, err) < 0 || prepare(&s, err) < 0)
		goto out;
	res->kvm = s.kvm;
	if (start_shares(&s, err) < 0 || start_qemu(&s, err) < 0)
		goto out;
	s.phase = PHASE_BOOT;
	s.deadline = s.t_qemu + boot_timeout(&s);
	if (pump(&s, err) < 0)
		goto out;
	rc = 0;
out:
	flush_out(&s);
	cleanup(&s);
	return rc;
}

int run_boot_check(const vm_image *img, bool kvm, double timeout_s, rls_error *err)
{
	session s;
	vm_result res;
	int rc = -1;

	session_init(&s, NULL, &res);
	s.probe = true;
	s.kvm = kvm;
	s.image_dir = img->dir;
	if (prepare(&s, err) < 0 || start_qemu(&s, err) < 0)
		goto out;
	s.phase = PHASE_BOOT;
	s.deadline = s.t_qemu + timeout_s;
	if (pump(&s, err) < 0)
		goto out;
	rc = 0;
out:
	cleanup(&s);
	return rc;
}
