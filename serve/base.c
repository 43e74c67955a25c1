/* base.c - what every file of serve/ shares: the configuration, the lock
 * over sandboxes and sessions, and the failure reported to a peer. */
#include "serve-int.h"

serve_config serve_cfg;
pthread_mutex_t serve_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t serve_events = PTHREAD_COND_INITIALIZER;

int serve_failf(serve_fail *f, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	f->field = field;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof f->msg, fmt, ap);
	va_end(ap);
	return -1;
}

bool serve_env_name_ok(const char *s, size_t n)
{
	if (!n || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

void serve_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}
