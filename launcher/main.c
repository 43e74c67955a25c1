/* main.c - `rls`: the launcher's command line, and `rls serve` (the serve
 * module; it runs its commands through `rls run`, and the launcher does not
 * know it). */
#include <string.h>

#include "launcher.h"
#include "../serve/serve.h"

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "serve")) {
		rls_progname = "rls";
		return serve_main(argc - 1, argv + 1);
	}
	return launcher_main(argc, argv);
}
