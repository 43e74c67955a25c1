/* main.c - `rls`: the launcher's command line. */
#include "launcher.h"

int main(int argc, char **argv)
{
	return launcher_main(argc, argv);
}
