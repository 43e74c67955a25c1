/* limits.c - --memory, --cpus and --pids for `rls run`.
 *
 * A cgroup made beside our own (a child of the cgroup rls runs in) holds
 * the limits; the sandbox joins it between fork and exec, so every process
 * it ever makes is counted.  cgroup v2 first, when the unified hierarchy
 * offers the controllers; else v1 (hybrid hosts, where the unified tree has
 * none); else rlimits, which are per process (RLIMIT_AS) or per user
 * (RLIMIT_NPROC) and cannot bound CPU time: we say so.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#define CPU_PERIOD_US 100000

const char *limit_how_name(limit_how how)
{
	switch (how) {
	case LIMIT_CGROUP_V1: return "cgroup-v1";
	case LIMIT_CGROUP_V2: return "cgroup-v2";
	case LIMIT_RLIMIT: return "rlimit";
	case LIMIT_UNENFORCED: return "unenforced";
	case LIMIT_VM: return "vm";
	case LIMIT_NOT_SET: break;
	}
	return NULL;
}

static int write_file(const char *dir, const char *file, const char *value, rls_error *err)
{
	_cleanup_free_ char *path = rls_xasprintf("%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || rls_write_all(fd, value, strlen(value)) < 0)
		return rls_error_set(err, errno, "%s", path);
	return 0;
}

typedef struct cgroup_find {
	const char *controller;
	char *found;
} cgroup_find;

static int match_cgroup(const char *point, const char *fstype, const char *source, const char *opts,
			void *opaque)
{
	cgroup_find *c = opaque;
	_cleanup_free_ char *copy = NULL;

	if (!c->controller) {
		if (strcmp(fstype, "cgroup2"))
			return 0;
		c->found = rls_xstrdup(point);
		return 1;
	}
	if (strcmp(fstype, "cgroup"))
		return 0;
	copy = rls_xstrdup(opts);
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, c->controller)) {
			c->found = rls_xstrdup(point);
			return 1;
		}
	}
	return 0;
}

/* Mount point of the hierarchy that has `controller` (v1), or of cgroup2
 * when controller is NULL. */
static char *find_mount(const char *controller)
{
	cgroup_find c = { controller, NULL };

	rls_mountinfo_each(match_cgroup, &c);
	return c.found;
}

/* Our own cgroup path in the hierarchy with `controller` (v1), or the v2
 * path ("0::...") when controller is NULL. */
static char *own_cgroup(const char *controller)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char *line = NULL;
	size_t cap = 0;
	char *found = NULL;

	if (!f)
		return NULL;
	while (!found && getline(&line, &cap, f) > 0) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*c2 = '\0';
		if (!controller) {
			if (!strcmp(c1 + 1, "") && !strncmp(line, "0:", 2))
				found = rls_xstrdup(c2 + 1);
			continue;
		}
		for (char *save = NULL, *tok = strtok_r(c1 + 1, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save))
			if (!strcmp(tok, controller))
				found = rls_xstrdup(c2 + 1);
	}
	free(line);
	return found;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

static const char *const controllers[3] = { "memory", "cpu", "pids" };

static bool wanted(const run_limits *lim, size_t i)
{
	return i == 0 ? lim->has_memory : i == 1 ? lim->has_cpus : lim->has_pids;
}

static void set_how(run_cgroup *cg, const run_limits *lim, limit_how how)
{
	cg->memory = lim->has_memory ? how : LIMIT_NOT_SET;
	cg->cpus = lim->has_cpus ? how : LIMIT_NOT_SET;
	cg->pids = lim->has_pids ? how : LIMIT_NOT_SET;
}

static void undo_dirs(run_cgroup *cg)
{
	for (size_t i = 0; i < cg->n_dirs; i++) {
		rmdir(cg->dirs[i]);
		free(cg->dirs[i]);
		cg->dirs[i] = NULL;
	}
	cg->n_dirs = 0;
	cg->version = 0;
}

static int write_v2(const run_cgroup *cg, const run_limits *lim, rls_error *err)
{
	char v[64];

	if (lim->has_memory) {
		snprintf(v, sizeof v, "%llu", (unsigned long long)lim->memory);
		if (write_file(cg->dirs[0], "memory.max", v, err) < 0)
			return -1;
		/* Without this the limit only moves the excess to swap. */
		(void)write_file(cg->dirs[0], "memory.swap.max", "0", NULL);
	}
	if (lim->has_pids) {
		snprintf(v, sizeof v, "%llu", (unsigned long long)lim->pids);
		if (write_file(cg->dirs[0], "pids.max", v, err) < 0)
			return -1;
	}
	if (lim->has_cpus) {
		snprintf(v, sizeof v, "%llu %d", (unsigned long long)(lim->cpus * CPU_PERIOD_US + 0.5),
			 CPU_PERIOD_US);
		if (write_file(cg->dirs[0], "cpu.max", v, err) < 0)
			return -1;
	}
	return 0;
}

/* 1 when made, 0 when v2 cannot be used here (cg->note says why), -1 on a
 * hard error. */
static int try_v2(const run_limits *lim, const char *name, run_cgroup *cg, rls_error *err)
{
	_cleanup_free_ char *mnt = find_mount(NULL);
	_cleanup_free_ char *own = own_cgroup(NULL);
	_cleanup_free_ char *parent = NULL, *dir = NULL, *avail = NULL;

	if (!mnt || !own)
		return 0;
	parent = rls_xasprintf("%s%s", mnt, strcmp(own, "/") ? own : "");
	dir = rls_xasprintf("%s/%s", parent, name);
	if (mkdir(dir, 0755) < 0) {
		snprintf(cg->note, sizeof cg->note, "cannot create a cgroup v2 under %s: %s", parent,
			 strerror(errno));
		return 0;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		bool all = true;

		_cleanup_free_ char *path = rls_xasprintf("%s/cgroup.controllers", dir);

		free(avail);
		avail = NULL;
		if (rls_read_file(AT_FDCWD, path, 4096, &avail, NULL, NULL) < 0)
			avail = rls_xstrdup("");
		for (size_t i = 0; i < 3; i++)
			if (wanted(lim, i) && !has_word(avail, controllers[i]))
				all = false;
		if (all)
			break;
		if (attempt == 1) {
			rmdir(dir);
			snprintf(cg->note, sizeof cg->note,
				 "cgroup v2 at %s does not delegate the needed controllers", parent);
			return 0;
		}
		/* Enabling fails when the parent has processes of its own (the
		 * "no internal processes" rule); then v2 is not ours to use. */
		for (size_t i = 0; i < 3; i++)
			if (wanted(lim, i)) {
				char ctl[16];

				snprintf(ctl, sizeof ctl, "+%s", controllers[i]);
				(void)write_file(parent, "cgroup.subtree_control", ctl, NULL);
			}
	}
	cg->dirs[0] = steal_pointer(&dir);
	cg->n_dirs = 1;
	cg->version = 2;
	if (write_v2(cg, lim, err) < 0) {
		undo_dirs(cg);
		return -1;
	}
	set_how(cg, lim, LIMIT_CGROUP_V2);
	return 1;
}

static int write_v1(const char *dir, const char *controller, const run_limits *lim, rls_error *err)
{
	char v[64];

	if (!strcmp(controller, "memory")) {
		snprintf(v, sizeof v, "%llu", (unsigned long long)lim->memory);
		if (write_file(dir, "memory.limit_in_bytes", v, err) < 0)
			return -1;
		/* memory+swap, where swap accounting exists: no escape into swap. */
		(void)write_file(dir, "memory.memsw.limit_in_bytes", v, NULL);
	} else if (!strcmp(controller, "pids")) {
		snprintf(v, sizeof v, "%llu", (unsigned long long)lim->pids);
		if (write_file(dir, "pids.max", v, err) < 0)
			return -1;
	} else {
		snprintf(v, sizeof v, "%d", CPU_PERIOD_US);
		if (write_file(dir, "cpu.cfs_period_us", v, err) < 0)
			return -1;
		snprintf(v, sizeof v, "%llu", (unsigned long long)(lim->cpus * CPU_PERIOD_US + 0.5));
		if (write_file(dir, "cpu.cfs_quota_us", v, err) < 0)
			return -1;
	}
	return 0;
}

static int try_v1(const run_limits *lim, const char *name, run_cgroup *cg, rls_error *err)
{
	for (size_t i = 0; i < 3; i++) {
		_cleanup_free_ char *mnt = NULL, *own = NULL, *dir = NULL;
		const char *target = NULL;

		if (!wanted(lim, i))
			continue;
		mnt = find_mount(controllers[i]);
		own = own_cgroup(controllers[i]);
		if (!mnt || !own) {
			snprintf(cg->note, sizeof cg->note, "no cgroup v1 %s hierarchy", controllers[i]);
			undo_dirs(cg);
			return 0;
		}
		dir = rls_xasprintf("%s%s/%s", mnt, strcmp(own, "/") ? own : "", name);
		/* Co-mounted controllers (cpu,cpuacct,...) share one directory. */
		for (size_t j = 0; j < cg->n_dirs; j++)
			if (!strcmp(cg->dirs[j], dir))
				target = cg->dirs[j];
		if (!target) {
			if (mkdir(dir, 0755) < 0) {
				snprintf(cg->note, sizeof cg->note, "cannot create a cgroup v1 %s: %s",
					 dir, strerror(errno));
				undo_dirs(cg);
				return 0;
			}
			target = cg->dirs[cg->n_dirs++] = steal_pointer(&dir);
		}
		if (write_v1(target, controllers[i], lim, err) < 0) {
			undo_dirs(cg);
			return -1;
		}
	}
	cg->version = 1;
	set_how(cg, lim, LIMIT_CGROUP_V1);
	return 1;
}

/* The kernel counts OOM kills per memory cgroup: "oom_kill N" in v2's
 * memory.events and (since Linux 4.13) in v1's memory.oom_control. */
bool limits_oom_killed(const run_cgroup *cg)
{
	for (size_t i = 0; i < cg->n_dirs && cg->memory != LIMIT_NOT_SET; i++) {
		_cleanup_free_ char *path = rls_xasprintf("%s/%s", cg->dirs[i],
							  cg->version == 2 ? "memory.events" : "memory.oom_control");
		_cleanup_free_ char *text = NULL;
		const char *p;

		if (rls_read_file(AT_FDCWD, path, 4096, &text, NULL, NULL) < 0)
			continue;
		for (p = text; (p = strstr(p, "oom_kill ")); p++)
			if ((p == text || p[-1] == '\n') && strtoull(p + 9, NULL, 10) > 0)
				return true;
	}
	return false;
}

int limits_setup(const run_limits *lim, const char *name, run_cgroup *cg, rls_error *err)
{
	int r;

	memset(cg, 0, sizeof *cg);
	if (!lim->has_memory && !lim->has_cpus && !lim->has_pids)
		return 0;
	r = try_v2(lim, name, cg, err);
	if (r != 0)
		return r < 0 ? -1 : 0;
	r = try_v1(lim, name, cg, err);
	if (r != 0)
		return r < 0 ? -1 : 0;
	set_how(cg, lim, LIMIT_RLIMIT);
	if (lim->has_cpus)
		cg->cpus = LIMIT_UNENFORCED;
	return 0;
}

int limits_enter(const run_cgroup *cg, const run_limits *lim, rls_error *err)
{
	if (cg->version) {
		/* "0" is the writing process itself. */
		for (size_t i = 0; i < cg->n_dirs; i++)
			if (write_file(cg->dirs[i], "cgroup.procs", "0", err) < 0)
				return -1;
		return 0;
	}
	if (cg->memory == LIMIT_RLIMIT) {
		struct rlimit rl = { lim->memory, lim->memory };

		if (setrlimit(RLIMIT_AS, &rl) < 0)
			return rls_error_set(err, errno, "setrlimit RLIMIT_AS");
	}
	if (cg->pids == LIMIT_RLIMIT) {
		struct rlimit rl = { lim->pids, lim->pids };

		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			return rls_error_set(err, errno, "setrlimit RLIMIT_NPROC");
	}
	return 0;
}

static int read_pids(const char *dir, pid_t **out)
{
	_cleanup_free_ char *path = rls_xasprintf("%s/cgroup.procs", dir);
	_cleanup_free_ char *text = NULL;
	pid_t *v = NULL;
	int n = 0;

	if (rls_read_file(AT_FDCWD, path, 1 << 22, &text, NULL, NULL) < 0)
		return 0;
	for (char *p = text, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0) {
			v = rls_xrealloc(v, (size_t)(n + 1) * sizeof *v);
			v[n++] = (pid_t)pid;
		}
	}
	*out = v;
	return n;
}

int limits_signal_all(const run_cgroup *cg, int sig)
{
	_cleanup_free_ pid_t *pids = NULL;
	int n, sent = 0;

	if (!cg->version || !cg->n_dirs)
		return 0;
	if (cg->version == 2 && sig == SIGKILL && write_file(cg->dirs[0], "cgroup.kill", "1", NULL) == 0)
		return 1;
	n = read_pids(cg->dirs[0], &pids);
	for (int i = 0; i < n; i++)
		if (kill(pids[i], sig) == 0)
			sent++;
	return sent;
}

int limits_remove(run_cgroup *cg, int wait_ms, rls_error *err)
{
	struct timespec pause = { 0, 2 * 1000 * 1000 };
	int waited = 0;

	for (size_t i = 0; i < cg->n_dirs; i++) {
		while (cg->dirs[i] && rmdir(cg->dirs[i]) < 0) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || waited >= wait_ms)
				return rls_error_set(err, errno, "remove cgroup %s", cg->dirs[i]);
			/* Exiting processes leave the cgroup a moment after
			 * their parent saw them die. */
			limits_signal_all(cg, SIGKILL);
			nanosleep(&pause, NULL);
			waited += 2;
		}
		free(cg->dirs[i]);
		cg->dirs[i] = NULL;
	}
	cg->n_dirs = 0;
	return 0;
}

void limits_free(run_cgroup *cg)
{
	for (size_t i = 0; i < cg->n_dirs; i++)
		free(cg->dirs[i]);
	cg->n_dirs = 0;
}
