/* vm-run.c - drive vm_run directly, for the tests (t/09xx-vm-*.t).
 *
 *   vm-run [--image DIR] --share DIR [--mount-at PATH] [--chdir PATH]
 *          [--uid N] [--gid N] [--env NAME=VALUE]... [--kind virtiofs|9p]
 *          [--memory BYTES] [--cpus N] [--net] [--hide PATH]...
 *          [--timeout S] [--grace S] [--boot-timeout S] [--signals] [--pids N]
 *          [--no-stdin] [--result FILE] -- COMMAND [ARG...]
 *   vm-run --probe
 *
 * The command's stdin, stdout and stderr are ours.  Exit status as rls
 * run gives it: the command's, 128 + a signal, 124 after a timeout, 125
 * when vm_run failed (its message on stderr).  --result writes vm_result
 * as one line of NAME=VALUE.  --signals blocks SIGINT, SIGTERM and SIGHUP
 * and hands vm_run a signalfd for them, as rls does.
 */
#include "../../vm/vm.h"

#include <getopt.h>
#include <signal.h>
#include <sys/signalfd.h>

static void usage(void)
{
	fputs("usage: vm-run [options] --share DIR -- COMMAND [ARG...] (see t/helpers/vm-run.c)\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "image", required_argument, NULL, 'i' },	{ "share", required_argument, NULL, 's' },
		{ "mount-at", required_argument, NULL, 'm' },	{ "chdir", required_argument, NULL, 'C' },
		{ "uid", required_argument, NULL, 'u' },	{ "gid", required_argument, NULL, 'g' },
		{ "env", required_argument, NULL, 'e' },	{ "kind", required_argument, NULL, 'k' },
		{ "memory", required_argument, NULL, 'M' },	{ "cpus", required_argument, NULL, 'c' },
		{ "net", no_argument, NULL, 'n' },		{ "hide", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 't' },	{ "grace", required_argument, NULL, 'G' },
		{ "boot-timeout", required_argument, NULL, 'b' }, { "signals", no_argument, NULL, 'S' },
		{ "no-stdin", no_argument, NULL, 'N' },	{ "result", required_argument, NULL, 'r' },
		{ "probe", no_argument, NULL, 'p' },		{ "pids", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	vm_request req = {
		.mount_at = "/workspace", .uid = 65534, .gid = 65534,
		.stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2, .signal_fd = -1, .started_fd = -1,
	};
	char *env[64], *hide[16];
	size_t n_env = 0, n_hide = 0;
	const char *result = NULL;
	vm_result res;
	rls_error err = { 0 };
	int c, rc;

	rls_progname = "vm-run";
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'i': req.image_dir = optarg; break;
		case 's': req.share_dir = optarg; break;
		case 'm': req.mount_at = optarg; break;
		case 'C': req.chdir = optarg; break;
		case 'u': req.uid = (uid_t)strtoul(optarg, NULL, 10); break;
		case 'g': req.gid = (gid_t)strtoul(optarg, NULL, 10); break;
		case 'e':
			if (n_env + 1 >= RLS_ARRAY_SIZE(env))
				usage();
			env[n_env++] = optarg;
			break;
		case 'k': req.share = optarg; break;
		case 'M': req.memory = strtoull(optarg, NULL, 10); break;
		case 'c': req.cpus = strtod(optarg, NULL); break;
		case 'P': req.pids = strtoull(optarg, NULL, 10); break;
		case 'n': req.share_net = true; break;
		case 'H':
			if (n_hide + 1 >= RLS_ARRAY_SIZE(hide))
				usage();
			hide[n_hide++] = optarg;
			break;
		case 't': req.timeout_s = strtod(optarg, NULL); break;
		case 'G': req.grace_s = strtod(optarg, NULL); break;
		case 'b': req.boot_timeout_s = strtod(optarg, NULL); break;
		case 'S': {
			sigset_t set;

			sigemptyset(&set);
			sigaddset(&set, SIGINT);
			sigaddset(&set, SIGTERM);
			sigaddset(&set, SIGHUP);
			sigprocmask(SIG_BLOCK, &set, NULL);
			req.signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
			if (req.signal_fd < 0)
				rls_die_errno("signalfd");
			break;
		}
		case 'N': req.stdin_fd = -1; break;
		case 'r': result = optarg; break;
		case 'p': {
			vm_probe_info info;

			if (vm_probe(&info, &err) < 0)
				rls_die("%s", err.msg);
			printf("%s\n", info.summary);
			return 0;
		}
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	if (!n_env) {
		env[n_env++] = "PATH=/usr/local/bin:/usr/bin:/bin";
		env[n_env++] = "HOME=/home/sandbox";
	}
	env[n_env] = NULL;
	hide[n_hide] = NULL;
	req.env = env;
	req.hide = (const char *const *)hide;
	req.argv = argv + optind;

	rc = vm_run(&req, &res, &err);
	if (result) {
		FILE *f = fopen(result, "w");

		if (!f)
			rls_die_errno("%s", result);
		fprintf(f, "rc=%d started=%d exit=%d signal=%d timed_out=%d interrupted=%d kvm=%d boot=%.2f\n", rc,
			res.started, res.exit_code, res.term_signal, res.timed_out, res.interrupted_by, res.kvm,
			res.boot_s);
		fclose(f);
	}
	if (rc < 0) {
		fprintf(stderr, "vm-run: %s\n", err.msg);
		return 125;
	}
	if (res.timed_out)
		return 124;
	if (res.term_signal)
		return 128 + res.term_signal;
	return res.exit_code;
}
