/* vm.c - vm_run: a session (run.c) under KVM or TCG as the probe
 * (probe.c) decides.  The probe boots a guest through the session code
 * itself, so the session is handed the probe instead of calling it. */
#include "vmint.h"

int vm_run(const vm_request *req, vm_result *res, rls_error *err)
{
	return run_session(req, res, probe_use_kvm, err);
}
