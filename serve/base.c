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
