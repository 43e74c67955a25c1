/* oci-runtime.c - the OCI runtimes rls can drive: runc, crun and runsc.
 *
 * All three take the same verbs (run, kill, delete) over a bundle; they
 * differ in a few flags, in whether they pass descriptors in
 * (--preserve-fds: runc and crun, not runsc), and in the kernel the
 * command meets (the host's, or gVisor's Sentry for runsc).
 *
 * "The first that works here" is decided by running a minimal bundle, as
 * rls doctor does.  That costs a runtime start, so the answer is kept in
 * the state directory, keyed by the runtime binary (path, size, mtime)
 * and the caller's uid, and asked again when either changes.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define PROBE_TIMEOUT_MS 10000

static const struct {
	const char *name;
	oci_kind kind;
} known[] = {
	{ "runc", OCI_RUNC },
	{ "crun", OCI_CRUN },
	{ "runsc", OCI_RUNSC },
};

const char *const oci_runtime_names[] = { "runc", "crun", "runsc", NULL };

void oci_runtime_free(oci_runtime *rt)
{
	free(rt->path);
	rt->path = NULL;
}

static char *search(const char *name)
{
	char *p = run_search_path(name, getenv("PATH"));

	return p ? p : run_search_path(name, RUN_SANDBOX_PATH);
}

/* Fill *rt for `spec`: a name (looked up in PATH) or a path.  A path is
 * driven as the runtime its file name says, else as runc. */
static int resolve(const char *spec, oci_runtime *rt, rls_error *err)
{
	const char *base = strrchr(spec, '/');

	memset(rt, 0, sizeof *rt);
	base = base ? base + 1 : spec;
	rt->kind = OCI_RUNC;
	rt->name = "runc";
	for (size_t i = 0; i < RLS_ARRAY_SIZE(known); i++)
		if (!strcmp(base, known[i].name)) {
			rt->kind = known[i].kind;
			rt->name = known[i].name;
		}
	if (strchr(spec, '/')) {
		if (access(spec, X_OK) < 0)
			return rls_error_set(err, errno, "--runtime %s", spec);
		rt->path = spec[0] == '/' ? rls_xstrdup(spec) : realpath(spec, NULL);
		if (!rt->path)
			return rls_error_set(err, errno, "--runtime %s", spec);
	} else {
		bool ok = false;

		for (size_t i = 0; i < RLS_ARRAY_SIZE(known); i++)
			ok |= !strcmp(spec, known[i].name);
		if (!ok)
			return rls_error_set(err, 0, "--runtime must be runc, crun, runsc or a path, not '%s'",
					     spec);
		rt->path = search(spec);
		if (!rt->path)
			return rls_error_set(err, 0, "%s is not installed (apt-get install %s)", spec, spec);
	}
	rt->gvisor = rt->kind == OCI_RUNSC;
	rt->rootless = geteuid() != 0;
	return 0;
}

char **oci_runtime_argv(const oci_runtime *rt, const char *root, const char *verb, const char *const *args)
{
	char **v = rls_xcalloc(24, sizeof *v);
	size_t n = 0;

	v[n++] = rls_xstrdup(rt->path);
	v[n++] = rls_xstrdup("--root");
	v[n++] = rls_xstrdup(root);
	if (rt->rootless && rt->kind == OCI_RUNC)
		v[n++] = rls_xstrdup("--rootless=true");
	if (rt->gvisor) {
		/* gVisor's own network stack would need a network namespace
		 * with interfaces: none, or the host's with --net host.
		 * Seccomp profiles are applied only when asked. */
		v[n++] = rls_xstrdup(rt->share_net ? "--network=host" : "--network=none");
		v[n++] = rls_xstrdup("--oci-seccomp");
	}
	v[n++] = rls_xstrdup(verb);
	for (const char *const *a = args; a && *a && n < 23; a++)
		v[n++] = rls_xstrdup(*a);
	v[n] = NULL;
	return v;
}

void oci_argv_free(char **argv)
{
	sandbox_argv_free(argv);
}

/* A runtime's environment: PATH alone. */
static char *const runtime_env[] = { "PATH=" RUN_SANDBOX_PATH, NULL };

int oci_run_quietly(char *const argv[], int timeout_ms)
{
	_cleanup_free_ char *out = NULL;

	return run_captured(argv, runtime_env, timeout_ms, &out);
}

/* The uid and gid maps a probe and a real run use (see oci-bundle.c). */
int oci_runtime_probe(const oci_runtime *rt, rls_error *err)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *tmpl = rls_xasprintf("%s/rls-oci-probe.XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	_cleanup_free_ char *dir = NULL, *rootfs = NULL, *state = NULL, *cfg = NULL, *out = NULL;
	_cleanup_free_ char *id = NULL;
	json_t *config;
	uid_t uid = rt->rootless ? 0 : 65534;
	int ws, r = -1;

	if (rt->gvisor && rt->rootless)
		return rls_error_set(err, 0, "runsc needs root here (its rootless mode needs a network "
				     "stack and cgroups it cannot make); use --runtime runc or --backend bwrap");
	if (!mkdtemp(tmpl))
		return rls_error_set(err, errno, "temp dir %s", tmpl);
	dir = rls_xstrdup(tmpl);
	chmod(dir, 0755);
	rootfs = rls_xasprintf("%s/rootfs", dir);
	state = rls_xasprintf("%s/state", dir);
	cfg = rls_xasprintf("%s/config.json", dir);
	mkdir(rootfs, 0755);
	mkdir(state, 0700);
	for (const char *const *d = (const char *const[]){ "usr", "proc", "dev", "tmp", NULL }; *d; d++) {
		_cleanup_free_ char *p = rls_xasprintf("%s/%s", rootfs, *d);

		mkdir(p, 0755);
	}
	for (const char *const *l = (const char *const[]){ "bin", "lib", "lib64", NULL }; *l; l++) {
		_cleanup_free_ char *p = rls_xasprintf("%s/%s", rootfs, *l);
		_cleanup_free_ char *target = rls_xasprintf("usr/%s", *l);

		(void)!symlink(target, p);
	}
	config = oci_probe_config(rt, uid);
	if (json_dump_file(config, cfg, JSON_COMPACT) < 0) {
		json_decref(config);
		rls_error_set(err, errno, "%s", cfg);
		goto out;
	}
	json_decref(config);
	id = rls_xasprintf("rls-probe-%d", (int)getpid());
	{
		const char *args[] = { "--bundle", dir, id, NULL };
		const char *gargs[] = { "-bundle", dir, id, NULL };
		char **argv = oci_runtime_argv(rt, state, "run", rt->gvisor ? gargs : args);

		ws = run_captured(argv, runtime_env, PROBE_TIMEOUT_MS, &out);
		oci_argv_free(argv);
	}
	if (ws == 0) {
		r = 0;
	} else {
		const char *del[] = { "--force", id, NULL };
		char **argv = oci_runtime_argv(rt, state, "delete", del);
		/* The last line says why, for the runtimes that log. */
		const char *why = out && strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;

		(void)oci_run_quietly(argv, PROBE_TIMEOUT_MS);
		oci_argv_free(argv);
		if (ws == RUN_CAPTURED_LATE) {
			rls_error_set(err, 0, "a minimal bundle did not end within %d s (a busy host? try again)",
				      PROBE_TIMEOUT_MS / 1000);
			err->code = ETIMEDOUT;	/* the mark of a verdict not to keep */
		} else {
			rls_error_set(err, 0, "%s", why && *why ? why : "a minimal bundle did not run");
		}
	}
out:
	(void)rls_rm_rf_at(AT_FDCWD, dir, NULL);
	return r;
}

/* The probe cache: "KEY\tok" or "KEY\tno\tWHY". */
/* The runtime binary, rls's own (a new rls may probe differently) and
 * the caller. */
static char *cache_key(const oci_runtime *rt)
{
	struct stat st, self;

	if (stat(rt->path, &st) < 0 || stat("/proc/self/exe", &self) < 0)
		return NULL;
	return rls_xasprintf("%s %lld %lld.%09ld rls %lld.%09ld uid %u", rt->path, (long long)st.st_size,
			     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)self.st_mtim.tv_sec,
			     self.st_mtim.tv_nsec, (unsigned)geteuid());
}

static int cached_probe(const oci_runtime *rt, const char *source, rls_error *err)
{
	rls_error ignore;
	_cleanup_free_ char *dir = rls_state_dir("oci", source, &ignore);
	_cleanup_free_ char *key = cache_key(rt);
	_cleanup_free_ char *file = NULL, *text = NULL;
	int r;

	if (!dir || !key)
		return oci_runtime_probe(rt, err);
	file = rls_xasprintf("%s/probe-%s", dir, rt->name);
	if (rls_read_file(AT_FDCWD, file, 8192, &text, NULL, NULL) == 0) {
		size_t n = strlen(key);

		if (!strncmp(text, key, n) && text[n] == '\t') {
			if (!strncmp(text + n + 1, "ok", 2))
				return 0;
			if (!strncmp(text + n + 1, "no\t", 3))
				return rls_error_set(err, 0, "%s", text + n + 4);
		}
	}
	r = oci_runtime_probe(rt, err);
	/* A probe that ran out of time says nothing of the runtime, only of
	 * the host's load at that moment: kept, it would refuse every later
	 * run until rls or the runtime changed. */
	if (r < 0 && err->code == ETIMEDOUT)
		return r;
	{
		_cleanup_free_ char *tmp = rls_xasprintf("%s.%d", file, (int)getpid());
		_cleanup_free_ char *line = r == 0 ? rls_xasprintf("%s\tok", key) :
						     rls_xasprintf("%s\tno\t%s", key, err->msg);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd >= 0) {
			bool ok = rls_write_all(fd, line, strlen(line)) == 0;

			close(fd);
			if (!ok || rename(tmp, file) < 0)
				unlink(tmp);
		}
	}
	return r;
}

int oci_runtime_find(const char *spec, const char *source, oci_runtime *rt, rls_error *err)
{
	_cleanup_buf_ rls_buf why = { 0 };

	if (spec) {
		if (resolve(spec, rt, err) < 0)
			return -1;
		if (cached_probe(rt, source, err) < 0) {
			rls_error_prefix(err, "%s does not work here", rt->path);
			oci_runtime_free(rt);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < RLS_ARRAY_SIZE(known); i++) {
		rls_error e = { 0 };

		if (resolve(known[i].name, rt, &e) == 0 && cached_probe(rt, source, &e) == 0)
			return 0;
		oci_runtime_free(rt);
		rls_buf_printf(&why, "%s%s: %s", why.len ? "; " : "", known[i].name, e.msg);
	}
	return rls_error_set(err, 0, "no OCI runtime works here (%s)%s", why.data,
			     geteuid() != 0 ? "; use --backend bwrap" : "");
}

typedef struct sweep_ctx {
	const char *name;
	const run_cgroup *keep;
	const char *own;	/* this process's path in the hierarchy at hand */
	const char *controllers;
	int wait_ms;
} sweep_ctx;

static bool has_option(const char *opts, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = opts; (p = strstr(p, word)); p += n)
		if ((p == opts || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static int sweep_mount(const char *point, const char *fstype, const char *source, const char *opts,
		       void *opaque)
{
	sweep_ctx *s = opaque;
	bool match;

	if (!*s->controllers) {
		match = !strcmp(fstype, "cgroup2");
	} else {
		_cleanup_free_ char *copy = rls_xstrdup(s->controllers);

		match = !strcmp(fstype, "cgroup");
		for (char *save = NULL, *c = strtok_r(copy, ",", &save); c && match;
		     c = strtok_r(NULL, ",", &save))
			match = has_option(opts, c);
	}
	if (match) {
		_cleanup_free_ char *dir = rls_xasprintf("%s%s/%s", point, strcmp(s->own, "/") ? s->own : "",
							 s->name);
		struct timespec pause = { 0, 5 * 1000 * 1000 };

		for (size_t i = 0; s->keep && i < s->keep->n_dirs; i++)
			if (!strcmp(s->keep->dirs[i], dir))
				return 0;
		for (int waited = 0; rmdir(dir) < 0 && errno == EBUSY && waited < s->wait_ms; waited += 5)
			nanosleep(&pause, NULL);
	}
	return 0;
}

void oci_cgroup_sweep(const char *name, const run_cgroup *keep, int wait_ms)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		sweep_ctx s = { .name = name, .keep = keep, .wait_ms = wait_ms };

		if (!c2)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*c2 = '\0';
		s.controllers = c1 + 1;
		s.own = c2 + 1;
		rls_mountinfo_each(sweep_mount, &s);
	}
	free(line);
}
