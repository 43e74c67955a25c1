/* placeholder */
#include "launcher.h"
#include "run.h"
int oci_image_root(const char *ref, char **root, rls_error *err)
{
	(void)ref; (void)root;
	return rls_error_set(err, 0, "--image is not done yet");
}
